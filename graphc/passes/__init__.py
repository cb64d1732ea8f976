"""The optimiser's passes: graph rewrites before lowering, Program passes and the memory plan after."""
from .axes import split_merged_axes
from .fusion import fuse_elementwise, fuse_epilogues
from .gemm import fold_gemm_batches, sum_gemm_batches
from .inplace import donate_updates
from .memory import MemoryReport, aligned, layout_sequential, lifetimes, plan_memory, plan_report
from .rewrite import RULES, simplify

__all__ = ["MemoryReport", "RULES", "aligned", "donate_updates", "fold_gemm_batches", "fuse_elementwise", "fuse_epilogues", "layout_sequential", "lifetimes", "plan_memory", "plan_report", "simplify", "split_merged_axes",
           "sum_gemm_batches"]
