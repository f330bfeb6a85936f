"""Scale-out on Ray (optional extra `qnas-edge[ray]`): candidate builds as Ray tasks, boards as Ray
custom resources (`board:<id>` on the node they are plugged into), one `BoardHost` actor per board.

Nothing here is imported unless a run asks for it (`--workers N`, `--ray-address`, several `--port`),
and Ray itself is imported only inside the functions that need it.
"""
