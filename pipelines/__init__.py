"""Job assembly, launch and corpus tools around the stages in `transforms/`.

`build` (what a build is), `launch` (how it runs), `corpus` (reading a finished build), `cli` (`longlm`).
Imports point down: cli -> build -> launch/corpus -> transforms -> schemas; nothing imports `cli`.
"""
