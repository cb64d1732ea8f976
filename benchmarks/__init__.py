"""graphc benchmarks: side-by-side step times of graphc's backends and the peers users would otherwise pick (`python -m benchmarks`)."""
