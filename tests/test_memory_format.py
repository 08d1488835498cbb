"""channels_last (NHWC, the CPU default) computes what contiguous (NCHW) does, and resuming
across layouts keeps the optimiser's state in step with its parameters."""

import torch
from conftest import tiny_config

from infogan.train import Trainer


def _losses(tr: Trainer, steps: int) -> torch.Tensor:
    rows = []
    for s in range(steps):
        st = tr.train_step(s)
        rows.append([st["d_loss"].item(), st["g_loss"].item(), *st["mi"].tolist()])
    return torch.tensor(rows)


def test_auto_is_channels_last_on_cpu(tiny_dataset):
    tr = Trainer(tiny_config(), "unused", dataset=tiny_dataset)
    conv = tr.nets.body.conv[2].weight  # [128w, 64w, 4, 4]: unambiguous
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    tr = Trainer(tiny_config(memory_format="contiguous"), "unused", dataset=tiny_dataset)
    assert tr.nets.body.conv[2].weight.is_contiguous()


def test_layouts_compute_the_same_steps(tiny_dataset):
    a = _losses(Trainer(tiny_config(memory_format="contiguous"), "u", dataset=tiny_dataset), 4)
    b = _losses(Trainer(tiny_config(memory_format="channels_last"), "u", dataset=tiny_dataset), 4)
    assert torch.allclose(a, b, rtol=1e-3, atol=1e-4), (a - b).abs().max()


def test_resume_across_layouts_matches_optimiser_state_to_parameters(tiny_dataset, tmp_path):
    Trainer(tiny_config(memory_format="contiguous", steps=3), tmp_path, dataset=tiny_dataset).run(
        finish=False
    )
    tr = Trainer(
        tiny_config(memory_format="channels_last", steps=3),
        tmp_path,
        dataset=tiny_dataset,
        resume=True,
    )
    checked = 0
    for opt in (tr.opt_d, tr.opt_g):
        for p, st in opt.state.items():
            for v in st.values():
                if torch.is_tensor(v) and v.shape == p.shape:
                    assert v.stride() == p.stride()
                    checked += p.dim() == 4
    assert checked > 0  # conv weights were among them
