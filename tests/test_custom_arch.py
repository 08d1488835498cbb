"""A user's own networks (infogan.register_arch, --import): built, checked, trained, loaded,
exported, and carried into worker processes; each way it can go wrong is one line naming it."""

from __future__ import annotations

import textwrap

import pytest
import torch
from conftest import TINY_FLAGS, tiny_config
from torch import nn

import infogan
from infogan import archs
from infogan.cli import main
from infogan.config import ModelConfig
from infogan.errors import CheckpointError, SpecError
from infogan.nets import UserBody, build_nets, image_shape

# Module-level factories: they pickle by name, so spawned workers can load them.


def mlp_generator(input_dim: int, width: float, channels: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(input_dim, max(4, round(64 * width))),
        nn.ReLU(),
        nn.Linear(max(4, round(64 * width)), channels * 28 * 28),
        nn.Tanh(),
        nn.Unflatten(1, (channels, 28, 28)),
    )


def conv_body(width: float, channels: int) -> nn.Module:
    h = max(2, round(16 * width))
    return nn.Sequential(
        nn.Conv2d(channels, h, 4, 2, 1),
        nn.BatchNorm2d(h),
        nn.LeakyReLU(0.1),
        nn.Flatten(),
        nn.LazyLinear(16),  # sized by the trial forward pass
    )


MODULE = """
from torch import nn
import infogan

def generator(input_dim, width, channels):
    return nn.Sequential(nn.Linear(input_dim, channels * 28 * 28), nn.Tanh(),
                         nn.Unflatten(1, (channels, 28, 28)))

def body(width, channels):
    return nn.Sequential(nn.Conv2d(channels, 4, 4, 2, 1), nn.LeakyReLU(0.1), nn.Flatten())

infogan.register_arch("filenet", generator=generator, body=body, image_size=28)
"""


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch):
    """Each test starts with nothing registered, nothing imported and no $INFOGAN_IMPORT."""
    monkeypatch.setattr(archs, "_REGISTRY", {})
    monkeypatch.setattr(archs, "_UNLOADABLE", {})
    monkeypatch.setattr(archs, "_imported", [])
    monkeypatch.setattr(archs, "_BY_IMPORT", set())
    monkeypatch.delenv(archs.ENV, raising=False)


def register_tiny(**kw) -> None:
    infogan.register_arch("tiny", generator=mlp_generator, body=conv_body, image_size=28, **kw)


def test_registered_networks_are_built_checked_and_wired_like_the_built_in_ones():
    register_tiny()
    cfg = ModelConfig(codes="cat:4,cont:2", noise_dim=8, arch="tiny")
    cfg.validate()
    assert image_shape(cfg) == (1, 28, 28)
    torch.manual_seed(0)
    nets = build_nets(cfg, contrastive=True)
    assert isinstance(nets.body, UserBody) and nets.body.feature_dim == 16
    x = nets.generator(torch.randn(5, 14))
    assert x.shape == (5, 1, 28, 28) and x.abs().max() <= 1
    assert nets.discriminate(x).shape == (5,)
    q = nets.recognise(x)
    assert [t.shape for t in q.cat_logits] == [(5, 4)] and q.cont_mean.shape == (5, 2)
    assert nets.pair_logits(x, x).shape == (5, 3)  # InfoGAN-CR's classifier: another body
    # The trial pass sized the lazy layer before DCGAN's init drew its weights.
    lazy = nets.body.net[4]
    assert isinstance(lazy, nn.Linear) and lazy.weight.std().item() == pytest.approx(0.02, rel=0.2)
    # Colour: the factories get channels=3.
    colour = build_nets(ModelConfig(codes="cat:4", noise_dim=8, arch="tiny", channels=3))
    assert colour.generator(torch.randn(2, 12)).shape == (2, 3, 28, 28)


def test_own_initialisation_and_q_head_choice_are_kept():
    def body(width: float, channels: int) -> nn.Module:
        conv = nn.Conv2d(channels, 2, 4, 2, 1)
        nn.init.constant_(conv.weight, 0.5)
        return nn.Sequential(conv, nn.Flatten())

    infogan.register_arch(
        "mine", generator=mlp_generator, body=body, image_size=28, dcgan_init=False,
        q_batch_norm=False,
    )  # fmt: skip
    nets = build_nets(ModelConfig(codes="cat:3", noise_dim=4, arch="mine"))
    assert torch.all(nets.body.net[0].weight == 0.5)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in nets.q_head.modules())
    assert nets.d_head.weight.std().item() == pytest.approx(0.02, rel=0.5)  # the heads are ours


def test_grouped_batches_are_normalised_apart_as_two_passes_would():
    register_tiny()
    torch.manual_seed(1)
    one = build_nets(ModelConfig(codes="cat:4", noise_dim=8, arch="tiny")).body
    two = build_nets(ModelConfig(codes="cat:4", noise_dim=8, arch="tiny")).body
    two.load_state_dict(one.state_dict())
    real, fake = torch.randn(6, 1, 28, 28), 3 + torch.randn(6, 1, 28, 28)
    stacked = one(torch.cat([real, fake]), groups=2)
    apart = torch.cat([two(real), two(fake)])
    torch.testing.assert_close(stacked, apart)
    torch.testing.assert_close(one.net[1].running_mean, two.net[1].running_mean)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"name": "1abc"}, "must start with a letter"),
        ({"name": "mnist"}, "built-in"),
        ({"image_size": 2}, "image_size"),
        ({"image_size": (28, 28)}, "image_size"),
        ({"image_size": 28.0}, "image_size"),
        ({"body": "conv"}, "body must be callable"),
    ],
)
def test_impossible_registrations_are_refused(kw, message):
    args = {"name": "x", "generator": mlp_generator, "body": conv_body, "image_size": 28} | kw
    with pytest.raises(SpecError, match=message):
        infogan.register_arch(args.pop("name"), **args)


def bad_body_flat(width, channels):
    return nn.Conv2d(channels, 2, 3)  # 4-D features: not flattened


def bad_body_raises(width, channels):
    raise ValueError("no such layer")


@pytest.mark.parametrize(
    "generator, body, size, message",
    [
        (mlp_generator, conv_body, 32, r"generator turned a latent .* \[2, 1, 32, 32\] are needed"),
        (mlp_generator, bad_body_flat, 28, r"body turned images .* features \[2, F\]"),
        (mlp_generator, bad_body_raises, 28, "body factory failed: no such layer"),
        (lambda i, w, c: "G", conv_body, 28, "returned str, not a torch.nn.Module"),
        (lambda i, w, c: nn.Linear(3, 3), conv_body, 28, r"generator fails on input of shape"),
    ],
)
def test_networks_that_do_not_fit_are_named_in_one_line(generator, body, size, message):
    infogan.register_arch("bad", generator=generator, body=body, image_size=size)
    with pytest.raises(SpecError, match=message) as e:
        build_nets(ModelConfig(codes="cat:4", noise_dim=8, arch="bad"))
    assert "\n" not in str(e.value) and "'bad'" in str(e.value)


def test_an_unknown_name_says_how_to_bring_ones_own():
    with pytest.raises(SpecError, match="unknown 'tyni'.*register_arch and --import"):
        ModelConfig(arch="tyni").validate()
    register_tiny()
    with pytest.raises(SpecError, match="choose from mnist, .*conv64s, tiny$"):
        ModelConfig(arch="tyni").validate()


def test_cli_trains_and_every_later_command_needs_the_import(tmp_path, tiny_npz, capsys):
    module = tmp_path / "mynets.py"
    module.write_text(textwrap.dedent(MODULE))
    run = tmp_path / "run"
    imp = ["--import", str(module)]
    flags = [*TINY_FLAGS, "--steps", "4", "--codes", "cat:4,cont:1", "--device", "cpu"]
    args = ["train", *imp, "--arch", "filenet", "--data", tiny_npz, "--out", str(run), *flags]
    assert main(args) == 0
    assert '"arch": "filenet"' in (run / "config.json").read_text()
    # A later process that has not imported the module: one line saying what to do.
    assert archs.shipped()["modules"] == [str(module)]  # what worker processes import first
    archs._REGISTRY.clear()
    archs._imported.clear()
    capsys.readouterr()
    assert main(["sample", str(run), "-n", "4", "--out", str(tmp_path / "s.png")]) == 2
    err = capsys.readouterr().err
    assert "trained on networks 'filenet', which this process has not registered" in err
    assert f"it was trained with --import {module}" in err  # the checkpoint's hint
    assert main(["train", "--resume", str(run), "--steps", "6"]) == 2
    err = capsys.readouterr().err
    assert "not registered" in err and f"it was trained with --import {module}" in err
    # With it, as the environment variable this time: sample, export and resume work.
    archs.os.environ[archs.ENV] = str(module)
    assert main(["sample", str(run), "-n", "4", "--out", str(tmp_path / "s.png")]) == 0
    out = tmp_path / "g.safetensors"
    assert main(["export", str(run), "--out", str(out)]) == 0
    from infogan.export import load_generator

    g = load_generator(out)
    assert g(torch.zeros(1, 8 + 5)).shape == (1, 1, 28, 28)
    assert main(["train", "--resume", str(run), "--steps", "6"]) == 0
    archs._REGISTRY.clear()
    archs._imported.clear()
    del archs.os.environ[archs.ENV]
    with pytest.raises(CheckpointError, match="trained on networks 'filenet'"):
        load_generator(out)


def test_an_import_that_fails_is_named(tmp_path, capsys):
    broken = tmp_path / "broken.py"
    broken.write_text("import torch\nraise RuntimeError('oops')\n")
    exits = tmp_path / "exits.py"  # a script's sys.exit(3) ended the command in silence
    exits.write_text("import sys\nsys.exit(3)\n")
    for target, message in [
        (str(broken), "cannot import .*broken.py.*RuntimeError: oops"),
        (str(exits), "exits.py' called sys.exit\\(3\\)"),
        (str(tmp_path / "none.py"), "none.py: no such file"),
        ("no_such_module_here", "No module named 'no_such_module_here'"),
    ]:
        assert main(["info", "--import", target, str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and __import__("re").search(message, err), err


@pytest.mark.slow  # ~8 s of worker start-up; CI runs it with the slow set
def test_worker_processes_get_the_parents_registrations(tmp_path, tiny_dataset):
    """Parallel candidates run in spawned processes: the factories travel by name."""
    from infogan.select import train_selected

    register_tiny()
    cfg = tiny_config(steps=4, candidates=2, select_steps=2, parallel=2)
    cfg.model.arch = "tiny"
    res = train_selected(cfg, tmp_path / "run", dataset=tiny_dataset)
    assert res.step == 4


def test_a_registration_a_worker_cannot_load_is_named_there():
    sent = {"nb": "PicklingError: Can't pickle <function <lambda>>", "gone": b"not a pickle"}
    archs.receive({"modules": [], "arches": sent})
    for name in ("nb", "gone"):
        with pytest.raises(SpecError, match=f"arch '{name}': its factories cannot reach worker"):
            archs.custom_arch(name)
    register_tiny()
    archs.receive({"arches": {"tiny": "ignored: this process registered it itself"}})
    assert archs.custom_arch("tiny") is not None
    # A lambda factory is sent as the reason it cannot be pickled.
    infogan.register_arch("lam", generator=lambda i, w, c: None, body=conv_body, image_size=28)
    sent = archs.shipped()["arches"]
    assert isinstance(sent["lam"], str) and isinstance(sent["tiny"], bytes)


def mnist_generator(input_dim: int, width: float, channels: int) -> nn.Module:
    from infogan.nets.mnist import MnistGenerator

    return MnistGenerator(input_dim, width)


def mnist_body(width: float, channels: int) -> nn.Module:
    from infogan.nets.mnist import MnistBody

    return MnistBody(width, channels)


def test_the_built_in_networks_registered_as_ones_own_train_the_same(tmp_path, tiny_dataset):
    """The user path is the built-in path: the paper's MNIST networks registered under another
    name start from the same weights and train to the same losses. Equal to float rounding:
    D's real and fake batches go through a user's body one after the other instead of stacked,
    and a GAN at batch 8 amplifies rounding within ~6 steps (measured: 1e-7 to step 5, 2e-5 at
    step 6), so five steps are compared."""
    from infogan.nets.mnist import MnistBody
    from infogan.train import train
    from infogan.viz import read_jsonl

    assert MnistBody.__init__.__code__.co_varnames[:3] == ("self", "width", "channels")
    infogan.register_arch("mnist_copy", generator=mnist_generator, body=mnist_body, image_size=28)
    weights, rows = {}, {}
    for arch in ("mnist", "mnist_copy"):
        # One memory format for both (auto: channels_last for the built-in networks on a CPU,
        # contiguous for a user's), so that only the networks' registration differs.
        cfg = tiny_config(steps=5, log_every=1, memory_format="channels_last")
        cfg.model.arch = arch
        torch.manual_seed(7)
        weights[arch] = list(build_nets(cfg.model).state_dict().values())
        train(cfg, tmp_path / arch, dataset=tiny_dataset)
        rows[arch] = read_jsonl(tmp_path / arch / "metrics.jsonl")
    assert len(weights["mnist"]) == len(weights["mnist_copy"])
    assert all(torch.equal(a, b) for a, b in zip(*weights.values(), strict=True))
    assert len(rows["mnist"]) == len(rows["mnist_copy"]) == 5
    for a, b in zip(rows["mnist"], rows["mnist_copy"], strict=True):
        for key in ("d_loss", "g_loss"):
            assert b[key] == pytest.approx(a[key], abs=1e-6), (a["step"], key)


# ---- what a break-it audit of the feature found --------------------------------------------


def groupnorm_generator(input_dim: int, width: float, channels: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(input_dim, 8 * 7 * 7),
        nn.Unflatten(1, (8, 7, 7)),
        nn.GroupNorm(2, 8),
        nn.ConvTranspose2d(8, channels, 4, 4),
        nn.Tanh(),
    )


class ViewBody(nn.Module):
    """The DCGAN idiom ``h.view(n, -1)``: fails on channels_last tensors."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 4, 4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        return h.view(h.size(0), -1)


def view_body(width: float, channels: int) -> nn.Module:
    return ViewBody(channels)


def test_ema_of_a_generator_without_buffers_and_a_view_body_train(tmp_path, tiny_dataset):
    """The EMA update copied G's buffers with a foreach op that fails on an empty list (a
    generator without batch norm has none); `auto` put a user's body in channels_last on the
    CPU, where `.view` fails mid-training. Asked for explicitly, it fails in one line first."""
    from infogan.train import train

    infogan.register_arch("gn", generator=groupnorm_generator, body=view_body, image_size=28)
    cfg = tiny_config(steps=3, ema_decay=0.9)
    cfg.model.arch = "gn"
    assert train(cfg, tmp_path / "a", dataset=tiny_dataset).step == 3
    cfg.memory_format = "channels_last"
    with pytest.raises(SpecError, match="its body fails in the channels_last memory format"):
        train(cfg, tmp_path / "b", dataset=tiny_dataset)


def test_a_file_imports_its_neighbours_and_an_empty_module_is_named(tmp_path, caplog):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "helpers.py").write_text(textwrap.dedent(MODULE).replace("filenet", "sib"))
    (proj / "nets.py").write_text("import helpers  # beside this file\n")
    (proj / "empty.py").write_text("X = 1\n")
    archs.import_modules([str(proj / "nets.py")])
    assert archs.custom_arch("sib") is not None
    with caplog.at_level("WARNING", logger="infogan"):
        archs.import_modules([str(proj / "empty.py")])
    assert "empty.py: it registered no networks" in caplog.text


def test_a_changed_registration_is_named_not_taken_for_damage(tmp_path, caplog):
    """A run is loaded by building its networks again: a registration changed since gave a
    'size mismatch' read as a damaged checkpoint, or (same shapes) silently other layers."""
    from infogan.model import load_run
    from infogan.train import train

    register_tiny()
    cfg = tiny_config(steps=2)
    cfg.model.arch = "tiny"
    train(cfg, tmp_path / "r", dataset=_blobs())
    load_run(tmp_path / "r")  # as registered: loads without a word
    assert "not those" not in caplog.text

    def wider(width: float, channels: int) -> nn.Module:
        return conv_body(2 * width, channels)

    infogan.register_arch("tiny", generator=mlp_generator, body=wider, image_size=28)
    with pytest.raises(CheckpointError, match="registered as 'tiny' are not those .* trained"):
        load_run(tmp_path / "r")

    def sigmoid_generator(input_dim: int, width: float, channels: int) -> nn.Module:
        g = mlp_generator(input_dim, width, channels)
        g[1] = nn.Sigmoid()  # same weights' shapes, another layer
        return g

    infogan.register_arch("tiny", generator=sigmoid_generator, body=conv_body, image_size=28)
    with caplog.at_level("WARNING", logger="infogan"):
        load_run(tmp_path / "r")
    assert "registered as 'tiny' are not those" in caplog.text and "may differ" in caplog.text


def _blobs():
    from conftest import tiny_images

    from infogan.data import ImageDataset

    images, labels = tiny_images()
    return ImageDataset(torch.from_numpy(images), torch.from_numpy(labels).long(), "tiny")


def sn_body(width: float, channels: int) -> nn.Module:
    return nn.Sequential(
        nn.utils.parametrizations.spectral_norm(nn.Conv2d(channels, 4, 4, 2, 1)),
        nn.utils.spectral_norm(nn.Conv2d(4, 4, 4, 2, 1)),  # the old hook
        nn.utils.parametrizations.weight_norm(nn.Conv2d(4, 4, 3, 1, 1)),
        nn.Flatten(),
    )


def test_dcgan_init_reaches_normalised_layers_and_spectral_norm_is_not_applied_twice():
    """DCGAN's init wrote into the computed weight of a parametrised layer (thrown away at the
    next forward); --spectral-norm on a layer with the old spectral-norm hook raised."""
    infogan.register_arch("sn", generator=mlp_generator, body=sn_body, image_size=28)
    torch.manual_seed(0)
    nets = build_nets(ModelConfig(codes="cat:3", noise_dim=4, arch="sn", spectral_norm=True))
    new, old, wn = nets.body.net[0], nets.body.net[1], nets.body.net[2]
    assert new.parametrizations.weight.original.std().item() == pytest.approx(0.02, rel=0.3)
    assert old.weight_orig.std().item() == pytest.approx(0.02, rel=0.3)
    assert len(new.parametrizations.weight) == 1  # not normalised twice
    assert wn.parametrizations.weight.original1.std().item() > 0.05  # weight norm: its own
    x = nets.generator(torch.randn(3, 7))
    assert nets.discriminate(x).shape == (3,)


def test_networks_that_break_the_methods_contract_are_named():
    def no_tanh(input_dim: int, width: float, channels: int) -> nn.Module:
        return nn.Sequential(
            nn.Linear(input_dim, channels * 784), nn.Unflatten(1, (channels, 28, 28))
        )

    def grey_only(width: float, channels: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(1, 2, 4, 2, 1), nn.Flatten())

    infogan.register_arch("nt", generator=no_tanh, body=conv_body, image_size=28)
    with pytest.raises(SpecError, match=r"values up to .* in \[-1, 1\] are needed .*Tanh"):
        build_nets(ModelConfig(codes="cat:3", noise_dim=40, arch="nt"))
    infogan.register_arch("grey", generator=mlp_generator, body=grey_only, image_size=28)
    build_nets(ModelConfig(codes="cat:3", noise_dim=4, arch="grey"))  # fine without CR
    with pytest.raises(SpecError, match="InfoGAN-CR's pair classifier.*\\[2, 2, 28, 28\\]"):
        build_nets(ModelConfig(codes="cat:3", noise_dim=4, arch="grey"), contrastive=True)


def test_factories_of_an_interactive_session_are_refused_before_workers_start(monkeypatch):
    import sys
    import types

    def gen(input_dim: int, width: float, channels: int) -> nn.Module:
        return mlp_generator(input_dim, width, channels)

    gen.__module__ = "__main__"
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))  # no __file__
    infogan.register_arch("nb", generator=gen, body=conv_body, image_size=28)
    with pytest.raises(SpecError, match="'nb': its factories cannot reach .*interactive session"):
        archs.check_shippable("nb")
    assert archs.custom_arch("nb") is not None  # in this process it still works
    archs.check_shippable("mnist")  # built-in: nothing to ship


def test_names_registered_by_an_imported_module_reach_workers_by_that_import(tmp_path):
    """Lambdas cannot be pickled, but a worker imports the parent's --import modules first,
    and they register the names there; only a name re-registered by the caller is pickled."""
    module = tmp_path / "lam.py"
    module.write_text(
        "import infogan\nfrom test_custom_arch import conv_body, mlp_generator\n"
        "infogan.register_arch('lam', generator=lambda i, w, c: mlp_generator(i, w, c), "
        "body=conv_body, image_size=28)\n"
    )
    archs.import_modules([str(module)])
    archs.check_shippable("lam")
    sent = archs.shipped()
    assert sent["arches"]["lam"] is None and sent["modules"] == [str(module)]
    infogan.register_arch("lam", generator=mlp_generator, body=conv_body, image_size=28)
    assert isinstance(archs.shipped()["arches"]["lam"], bytes)


# ---- the second audit ------------------------------------------------------------------------


def train_only_body(width: float, channels: int) -> nn.Module:
    class Body(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(channels, 2, 4, 2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.conv(x)
            if self.training:  # a path only training takes, broken
                h = h.transpose(1, 2).view(h.shape[0], -1)
            return h.flatten(1)

    return Body()


def test_a_network_that_fails_only_in_training_mode_is_named_when_built():
    infogan.register_arch("tm", generator=mlp_generator, body=train_only_body, image_size=28)
    with pytest.raises(SpecError, match="'tm': its body fails in training mode"):
        build_nets(ModelConfig(codes="cat:3", noise_dim=4, arch="tm"))


def test_the_training_mode_trial_leaves_buffers_and_the_rng_as_they_were():
    register_tiny()
    torch.manual_seed(5)
    a = build_nets(ModelConfig(codes="cat:4", noise_dim=8, arch="tiny"))
    after_a = torch.rand(1)
    bn = a.body.net[1]
    assert torch.equal(bn.running_mean, torch.zeros_like(bn.running_mean))
    assert int(bn.num_batches_tracked) == 0
    torch.manual_seed(5)
    b = build_nets(ModelConfig(codes="cat:4", noise_dim=8, arch="tiny"))
    assert torch.equal(torch.rand(1), after_a)
    for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y)


def test_the_layout_is_what_was_registered_not_how_a_run_executes_it():
    """A data-parallel run swaps batch norm for SyncBatchNorm: its checkpoints must record the
    registered networks' layout, or every later load warns that the registration changed."""
    from infogan.distributed import SyncBatchNorm, sync_batch_norm

    register_tiny()
    nets = build_nets(ModelConfig(codes="cat:4", noise_dim=8, arch="tiny"))
    before = nets.layout()
    sync_batch_norm(nets)
    assert any(isinstance(m, SyncBatchNorm) for m in nets.modules())
    assert nets.layout() == before and nets.layout_differs({"layout": before}, "x") is None
    # The image size is part of it: a registration at another size is another layout.
    infogan.register_arch("tiny", generator=mlp_generator, body=conv_body, image_size=29)
    with pytest.raises(SpecError):  # (this generator cannot draw 29x29: refused when built)
        build_nets(ModelConfig(codes="cat:4", noise_dim=8, arch="tiny"))


def test_two_files_of_one_name_in_two_folders_are_two_modules(tmp_path):
    for sub, name in (("a", "neta"), ("b", "netb")):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "nets.py").write_text(textwrap.dedent(MODULE).replace("filenet", name))
    archs.import_modules([str(tmp_path / "a" / "nets.py"), str(tmp_path / "b" / "nets.py")])
    assert archs.custom_arch("neta") is not None and archs.custom_arch("netb") is not None
    gens = {archs.custom_arch(n).generator.__module__ for n in ("neta", "netb")}
    assert len(gens) == 2


def test_a_module_imported_that_no_longer_registers_the_runs_networks_is_named(
    tmp_path, monkeypatch
):
    module = str((tmp_path / "mynets.py").resolve())
    monkeypatch.setattr(archs, "_imported", [module])  # imported here, registering other names
    config = {"model": {"arch": "renamed"}}
    with pytest.raises(CheckpointError) as e:
        archs.check_saved_arch(config, "run: r", [module])
    assert f"it was trained with --import {module} ({module} imported here, but it " in str(e.value)
    assert "registers no 'renamed' now)" in str(e.value)
    monkeypatch.setattr(archs, "_imported", [])
    with pytest.raises(CheckpointError) as e:
        archs.check_saved_arch(config, "run: r", [module])
    assert str(e.value).endswith(f"it was trained with --import {module}")
