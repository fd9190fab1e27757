#!/usr/bin/python3
"""torchrun for Debian 12: PyTorch 1.13's torchrun under Python 3.11 reads its
--redirects/--tee values wrong (Std.from_str iterates an IntFlag, which no
longer yields NONE or ALL, and returns None: "'NoneType' object has no
attribute 'get'"). This runs torchrun with that one function fixed; the
arguments are torchrun's, e.g.

    examples/torchrun.py --nproc_per_node 2 --no_python nntrain -m spec.json -o model train.batches
"""
import re
import sys

import torch.distributed.elastic.multiprocessing.api as api


def from_str(cls, vm):
    if re.match(api._VALUE_REGEX, vm):
        return api.Std(int(vm))
    if re.match(api._MAPPING_REGEX, vm):
        return {int(i): api.Std(int(v)) for i, v in (m.split(":") for m in vm.split(","))}
    raise ValueError(f"{vm} does not match: <{api._VALUE_REGEX}> or <{api._MAPPING_REGEX}>")


api.Std.from_str = classmethod(from_str)

from torch.distributed.run import main  # noqa: E402 (after the fix)

sys.exit(main())
