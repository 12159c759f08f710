"""How a build runs: Beam options and runner questions (`options`), packaging for remote workers,
the bounded-bundle local runner with its spill buffers, progress lines and the local memory estimate."""
