"""The optimiser's passes: graph rewrites before lowering, Program passes and the memory plan after."""
from .fusion import fuse_elementwise, fuse_epilogues
from .inplace import donate_updates
from .memory import MemoryReport, aligned, layout_sequential, lifetimes, plan_memory, plan_report
from .rewrite import RULES, simplify

__all__ = ["MemoryReport", "RULES", "aligned", "donate_updates", "fuse_elementwise", "fuse_epilogues", "layout_sequential", "lifetimes", "plan_memory", "plan_report", "simplify"]
