"""Model construction: parameter counts, configs, initialisation and export to plain PyTorch."""

import pytest
import torch
from escnn import nn as enn
from escnn.nn.init import _generalized_he_init_variances  # the reference the shortcut must equal

from equicr.models import CloudRemovalNet, ModelConfig, build_model, count_parameters, equal_parameter_config
from equicr.models.equivariant import initialise_he

EXPORT_TOLERANCE = 1e-5  # float32, relative to the output scale (measured: about 1e-7)


@pytest.mark.parametrize(("architecture", "expected"), [("equicr", 18_721_417), ("dsen2cr", 18_947_341)])
def test_full_size_parameter_counts(architecture, expected):
    model = build_model(ModelConfig(architecture), initialize=False)
    assert count_parameters(model) == expected


def test_config_defaults_are_the_paper():
    assert ModelConfig().width == 156 and ModelConfig("dsen2cr").width == 256
    assert ModelConfig().group == "p4" and ModelConfig("dsen2cr").group == "trivial"
    assert ModelConfig().receptive_field_radius == 34
    assert ModelConfig(input_mode="sar").in_channels == 2 and not ModelConfig(input_mode="sar").long_skip


def test_config_refuses_nonsense_with_names():
    with pytest.raises(ValueError, match="group 'p4' does not apply to dsen2cr"):
        ModelConfig("dsen2cr", group="p4")
    with pytest.raises(ValueError, match="input_mode 'rgb'"):
        ModelConfig(input_mode="rgb")
    with pytest.raises(ValueError, match=r"unknown model config keys \['depth'\]"):
        ModelConfig.from_dict({"depth": 3})


def test_config_round_trips_through_dict():
    config = ModelConfig("equicr", width=7, num_blocks=3, input_mode="opt", group="p4m")
    assert ModelConfig.from_dict(config.to_dict()) == config


def test_he_initialisation_shares_escnn_variances_within_a_layer_kind():
    """The shortcut assumes layers of one kind have identical variances; escnn computes them per layer."""
    model = build_model(ModelConfig(width=3, num_blocks=2), initialize=False)
    convs = [m for m in model.modules() if isinstance(m, enn.R2Conv)]
    block_convs = [c for c in convs if c.in_type == c.out_type]
    assert len(block_convs) == 4
    reference = _generalized_he_init_variances(block_convs[0].basisexpansion)
    for conv in block_convs[1:]:
        torch.testing.assert_close(_generalized_he_init_variances(conv.basisexpansion), reference)


def test_he_initialisation_draws_with_escnn_variances():
    model = build_model(ModelConfig(width=6, num_blocks=1), initialize=False)
    for module in model.modules():
        if isinstance(module, enn.R2Conv):
            module.weights.data.zero_()
            module.bias.data.fill_(1.0)
    initialise_he(model)
    for conv in (m for m in model.modules() if isinstance(m, enn.R2Conv)):
        variances = _generalized_he_init_variances(conv.basisexpansion)
        standardised = conv.weights.detach() / variances
        assert standardised.numel() > 100
        assert abs(float(standardised.std()) - 1.0) < 0.15
        assert float(conv.bias.detach().abs().max()) == 0.0


@pytest.mark.parametrize("input_mode", ["sar+opt", "opt", "sar"])
def test_export_equals_escnn(input_mode):
    config = ModelConfig(width=4, num_blocks=2, input_mode=input_mode)
    model = build_model(config, identity_start=False)
    plain = model.export()
    assert isinstance(plain, CloudRemovalNet)
    assert not any(type(m).__module__.startswith("escnn") for m in plain.modules())
    assert model.training, "export must leave the model's mode as it found it"
    model.eval()
    x = torch.rand(2, config.in_channels, 19, 22) * 2
    with torch.no_grad():
        expected, exported = model(x), plain(x)
    assert float((exported - expected).abs().max() / expected.abs().max()) < EXPORT_TOLERANCE


def test_sar_only_mode_has_no_long_skip():
    config = ModelConfig(width=2, num_blocks=1, input_mode="sar")
    model = build_model(config).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, enn.R2Conv):
                module.weights.zero_()
                module.bias.zero_()
        model.train().eval()  # refresh escnn's cached filters after the in-place change
        assert float(model(torch.rand(1, 2, 8, 8)).abs().max()) == 0.0


def test_long_skip_adds_the_cloudy_optical_input():
    config = ModelConfig("dsen2cr", width=4, num_blocks=1, input_mode="sar+opt")
    model = build_model(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        x = torch.rand(1, 15, 8, 8)
        torch.testing.assert_close(model(x), x[:, :13])


def test_equal_parameter_config_matches_counts():
    equicr = ModelConfig(width=8, num_blocks=2)
    dsen2cr = equal_parameter_config(equicr, "dsen2cr")
    counts = [count_parameters(build_model(c, initialize=False)) for c in (equicr, dsen2cr)]
    assert dsen2cr.architecture == "dsen2cr" and dsen2cr.num_blocks == 2
    assert abs(counts[0] - counts[1]) / counts[0] < 0.05, counts


@pytest.mark.parametrize("architecture", ["equicr", "dsen2cr"])
def test_untrained_network_returns_its_cloudy_input(architecture):
    """The output convolution starts at zero, so training starts from the leave-the-clouds-in baseline."""
    model = build_model(ModelConfig(architecture, width=3, num_blocks=2)).eval()
    x = torch.rand(2, 15, 11, 11)
    with torch.no_grad():
        torch.testing.assert_close(model(x), x[:, :13])


@pytest.mark.parametrize(("architecture", "width"), [("equicr", 3), ("dsen2cr", 8)])
def test_activation_checkpointing_gives_identical_gradients(architecture, width):
    """Recomputing block activations in the backward pass changes memory, not the gradients (bit for bit)."""
    from equicr.models import set_activation_checkpointing

    torch.manual_seed(0)
    config = ModelConfig(architecture, width=width, num_blocks=3)
    model = build_model(config, identity_start=False)
    x = torch.rand(2, config.in_channels, 20, 20)
    gradients = []
    for enabled in (False, True):
        assert set_activation_checkpointing(model, enabled) == config.num_blocks
        model.zero_grad()
        model(x).square().mean().backward()
        gradients.append({name: p.grad.clone() for name, p in model.named_parameters()})
    for name, gradient in gradients[0].items():
        assert torch.equal(gradient, gradients[1][name]), name
    # ...while the activations autograd keeps for the backward pass do shrink.
    saved = []
    for enabled in (False, True):
        set_activation_checkpointing(model, enabled)
        sizes = {}

        def pack(tensor, sizes=sizes):
            sizes[tensor.data_ptr()] = tensor.numel() * tensor.element_size()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            model(x).square().mean().backward()
        saved.append(sum(sizes.values()))
    assert saved[1] < 0.8 * saved[0], saved  # each block keeps its input only, not its inner activations


@pytest.mark.parametrize(
    ("architecture", "width", "group"), [("equicr", 3, "p4"), ("equicr", 2, "p4m"), ("dsen2cr", 5, None)]
)
def test_multiply_adds_per_pixel_match_the_exported_convolutions(architecture, width, group):
    """The FLOP count capacity planning rests on equals what the plain network's Conv2d layers do."""
    from torch import nn

    from equicr.deploy.export import plain_torch_model

    config = ModelConfig(architecture, width=width, num_blocks=2, group=group)
    plain = plain_torch_model(build_model(config).eval())
    convolutions = [m for m in plain.modules() if isinstance(m, nn.Conv2d)]
    counted = sum(m.in_channels * m.out_channels * m.kernel_size[0] * m.kernel_size[1] for m in convolutions)
    assert config.multiply_adds_per_pixel == counted
    assert convolutions[1].in_channels == config.feature_channels
