"""A farm of boards on a Ray cluster (optional extra `qnas-edge[ray]`): each board is a Ray custom
resource (`board:<id>`) on the node it is plugged into, owned there by one `BoardHost` actor; the
`cluster` Board kind (`ClusterBoards`) measures on whichever is idle. Ray is imported only inside
the functions that need it.
"""
