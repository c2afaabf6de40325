"""The batched member networks against a Python loop over K independent torch modules."""

import pytest
import torch

from rnd_explore import BatchedCNN, BatchedLinear, BatchedMLP


def loop_outputs(batched, inputs):
    return torch.stack([batched.member_module(k)(inputs) for k in range(batched.num_members)])


@pytest.mark.parametrize("parameterization", ["standard", "ntk"])
@pytest.mark.parametrize("num_members", [1, 4])
def test_mlp_outputs_match_loop(parameterization, num_members):
    generator = torch.Generator().manual_seed(0)
    network = BatchedMLP(num_members, 6, (16, 8), 3, parameterization=parameterization, bias_std=0.3, generator=generator)
    inputs = torch.randn(5, 6, generator=generator)

    batched = network(inputs)

    assert batched.shape == (num_members, 5, 3)
    torch.testing.assert_close(batched, loop_outputs(network, inputs), rtol=1e-5, atol=1e-6)


def test_mlp_per_member_inputs_match_loop():
    generator = torch.Generator().manual_seed(1)
    network = BatchedMLP(3, 4, (8,), 2, bias_std=0.1, generator=generator)
    inputs = torch.randn(3, 7, 4, generator=generator)

    batched = network(inputs)
    reference = torch.stack([network.member_module(k)(inputs[k]) for k in range(3)])

    torch.testing.assert_close(batched, reference, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("parameterization", ["standard", "ntk"])
def test_mlp_gradients_match_loop(parameterization):
    generator = torch.Generator().manual_seed(2)
    network = BatchedMLP(4, 5, (12,), 3, parameterization=parameterization, bias_std=0.2, generator=generator)
    inputs = torch.randn(9, 5, generator=generator)
    members = [network.member_module(k) for k in range(4)]

    network(inputs).square().sum().backward()
    for member in members:
        member(inputs).square().sum().backward()

    for position, layer in enumerate(network.layers):
        for k, member in enumerate(members):
            linear = member[2 * position]
            # d/dW_batched = scale * (d/dW_linear)^T, because W_linear = scale * W_batched^T.
            torch.testing.assert_close(layer.weight.grad[k], layer.weight_scale * linear.weight.grad.T, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(layer.bias.grad[k, 0], layer.bias_scale * linear.bias.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("num_members", [1, 3])
def test_cnn_outputs_and_gradients_match_loop(num_members):
    generator = torch.Generator().manual_seed(3)
    network = BatchedCNN(num_members, (3, 9, 9), ((4, 3, 2), (5, 2, 1)), (8,), 2, bias_std=0.1, generator=generator)
    images = torch.rand(6, 3, 9, 9, generator=generator)
    members = [network.member_module(k) for k in range(num_members)]

    batched = network(images)
    reference = torch.stack([member(images) for member in members])

    torch.testing.assert_close(batched, reference, rtol=1e-5, atol=1e-5)
    batched.sum().backward()
    reference.sum().backward()
    first_conv = network.convs[0]
    for k, member in enumerate(members):
        torch.testing.assert_close(first_conv.weight.grad[k], member[0].weight.grad, rtol=1e-4, atol=1e-5)


def test_members_are_independent():
    network = BatchedMLP(2, 3, (4,), 1, generator=torch.Generator().manual_seed(0))
    inputs = torch.randn(10, 3)

    outputs = network(inputs)

    assert not torch.allclose(outputs[0], outputs[1])


def test_ntk_and_standard_share_the_initial_variance():
    torch.manual_seed(0)
    standard = BatchedLinear(1, 400, 400, parameterization="standard", weight_std=2.0)
    ntk = BatchedLinear(1, 400, 400, parameterization="ntk", weight_std=2.0)
    inputs = torch.randn(64, 400)

    # Each output is a sum of 400 terms with variance weight_std**2 / 400 * E[x^2] = 4 * 1 / 400.
    standard_var = standard(inputs).var().item()
    ntk_var = ntk(inputs).var().item()

    assert standard_var == pytest.approx(4.0, rel=0.05)
    assert ntk_var == pytest.approx(4.0, rel=0.05)


def test_bad_shapes_and_settings_raise():
    layer = BatchedLinear(3, 4, 2)
    with pytest.raises(ValueError, match=r"\[3, B, 4\]"):
        layer(torch.zeros(2, 5, 4))
    with pytest.raises(ValueError, match="num_members must be an integer >= 1, got 0"):
        BatchedLinear(0, 4, 2)
    with pytest.raises(ValueError, match="Unknown parameterization 'mup'"):
        BatchedLinear(1, 4, 2, parameterization="mup")
    with pytest.raises(ValueError, match="below 1 pixel"):
        BatchedCNN(1, (1, 4, 4), ((2, 5, 1),), (), 1)
