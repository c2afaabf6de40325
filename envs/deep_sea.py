"""DeepSea: a sparse-reward grid that tests deep exploration.

The agent descends an N x N grid one row per step, starting at the top-left cell. Each
step it moves one column left or right. A reward of +1 waits in the bottom-right cell,
and every move to the right costs ``unscaled_move_cost / N``. Only the policy that goes
right on every one of the N steps collects the +1, so a random policy finds it with
probability 2**-N and a greedy learner is pushed to the left by the move cost.

The per-cell action mapping, the move cost, the failing "right" moves of the stochastic
variant and the all-zero final observation follow ``bsuite/environments/deep_sea.py`` in
https://github.com/google-deepmind/bsuite. Two things differ from that file. The reward
noise of bsuite's stochastic variant is off unless ``reward_noise_std`` is set, and
``optimal_return`` is the exact expectation (see its docstring).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

DEEP_SEA_ID = "rnd_explore/DeepSea-v0"
MIN_SIZE = 2


def _validate_size(size: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, numbers.Integral):
        raise ValueError(
            f"size must be an integer >= {MIN_SIZE}, got {size!r} of type "
            f"{type(size).__name__}. Pass a whole number such as size=10."
        )
    if size < MIN_SIZE:
        raise ValueError(
            f"size must be an integer >= {MIN_SIZE}, got {size}. "
            f"Pass size={MIN_SIZE} or larger."
        )
    return int(size)


def _validate_non_negative(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"{name} must be a finite number >= 0, got {value!r} of type {type(value).__name__}."
        )
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}. Pass 0.0 or more.")
    return float(value)


class DeepSeaEnv(gym.Env[np.ndarray, np.int64]):
    """DeepSea environment with bsuite semantics.

    Observation: float32 array of shape (N, N) with a single 1.0 at (row, column). The
    observation returned with ``terminated=True`` is all zeros because the agent has left
    the grid.

    Actions: ``Discrete(2)``. Whether action 0 or 1 means "right" depends on the cell.
    The action equal to ``action_mapping[row, column]`` (as an integer) moves right and
    the other action moves left.

    Dynamics: every step moves down one row, and the episode terminates after exactly N
    steps. "Right" sets column = min(column + 1, N - 1) and costs
    ``unscaled_move_cost / N``. "Left" sets column = max(column - 1, 0) at no cost.
    Taking "right" while in column N - 1 adds +1 to the reward of that step, which is
    only possible on the last row. With ``deterministic=False`` a "right" move leaves the
    column unchanged with probability 1 / N, but the move cost is still paid.
    ``reward_noise_std`` adds Gaussian noise to the last reward in the edge columns.

    Info: ``"position"`` is the (row, column) pair after the step, with row == N after
    the last step. The info of the last step also contains ``"is_success"``, True when
    the +1 was collected during the episode.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(
        self,
        size: int = 10,
        *,
        mapping_seed: int | None = 0,
        deterministic: bool = True,
        randomize_actions: bool = True,
        unscaled_move_cost: float = 0.01,
        reward_noise_std: float = 0.0,
        render_mode: str | None = None,
    ) -> None:
        """Build the grid and draw the action mapping.

        Args:
            size: Grid side N and episode length in steps. Must be an integer >= 2.
            mapping_seed: Seed of ``np.random.default_rng`` that draws the action
                mapping, independent of the episode seed given to ``reset``. The same
                value always gives the same layout. None draws a fresh layout from OS
                entropy.
            deterministic: If False, each "right" move fails with probability 1 / N and
                leaves the column unchanged. The failures are drawn from ``np_random``,
                so they follow the episode seed.
            randomize_actions: If False, action 1 means "right" in every cell and
                ``mapping_seed`` is unused.
            unscaled_move_cost: Total cost of N "right" moves. Each "right" move costs
                ``unscaled_move_cost / N``. Must be finite and >= 0.
            reward_noise_std: Standard deviation of Gaussian noise, drawn from
                ``np_random``, added to the reward of the last step when it starts in
                column 0 or column N - 1. bsuite's stochastic DeepSea uses 1.0. The
                default 0.0 keeps rewards noise-free. Must be finite and >= 0.
            render_mode: None, "ansi" or "rgb_array".

        Raises:
            ValueError: If ``size``, ``unscaled_move_cost``, ``reward_noise_std`` or
                ``render_mode`` is invalid.
        """
        self._size = _validate_size(size)
        unscaled_move_cost = _validate_non_negative("unscaled_move_cost", unscaled_move_cost)
        self._move_cost = unscaled_move_cost / self._size
        self._reward_noise_std = _validate_non_negative("reward_noise_std", reward_noise_std)
        self._deterministic = bool(deterministic)

        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, "
                f"got {render_mode!r}."
            )
        self.render_mode = render_mode

        if randomize_actions:
            mapping_rng = np.random.default_rng(mapping_seed)
            mapping = mapping_rng.binomial(1, 0.5, size=(self._size, self._size)).astype(bool)
        else:
            mapping = np.ones((self._size, self._size), dtype=bool)
        mapping.flags.writeable = False
        self._action_mapping = mapping

        self.observation_space = spaces.Box(
            low=0.0, high=1.0, shape=(self._size, self._size), dtype=np.float32
        )
        self.action_space = spaces.Discrete(2)

        # None until the first reset, so that step() can reject a call before it.
        self._row: int | None = None
        self._column = 0
        self._collected_treasure = False

    @property
    def size(self) -> int:
        """Grid side N, equal to the episode length in steps."""
        return self._size

    @property
    def deterministic(self) -> bool:
        """Whether every "right" move succeeds."""
        return self._deterministic

    @property
    def action_mapping(self) -> np.ndarray:
        """Read-only bool array of shape (N, N).

        At cell (row, column), the action equal to ``int(action_mapping[row, column])``
        moves right.
        """
        return self._action_mapping

    @property
    def optimal_return(self) -> float:
        """Expected undiscounted return of the optimal policy.

        Equals ``1 - unscaled_move_cost`` (0.99 by default) when ``deterministic`` is
        True, because the +1 needs N "right" moves at ``unscaled_move_cost / N`` each.
        Otherwise the value comes from dynamic programming over (row, column) and is
        exact. bsuite reports ``(1 - 1/N)**(N - 1) - unscaled_move_cost`` instead, which
        charges all N move costs even in episodes where a "right" move failed, so its
        value is slightly lower. Zero-mean reward noise does not change the value.
        """
        return float(self._solve_optimal_values()[0, 0])

    def _solve_optimal_values(self) -> np.ndarray:
        """Return the optimal state values as an array of shape (N + 1, N).

        Row N contains the value 0 of the terminal states.
        """
        n = self._size
        success_probability = 1.0 if self._deterministic else 1.0 - 1.0 / n
        values = np.zeros((n + 1, n), dtype=np.float64)
        for row in range(n - 1, -1, -1):
            for column in range(n):
                left_value = values[row + 1, max(column - 1, 0)]
                treasure = 1.0 if column == n - 1 else 0.0
                right_value = (
                    treasure
                    - self._move_cost
                    + success_probability * values[row + 1, min(column + 1, n - 1)]
                    + (1.0 - success_probability) * values[row + 1, column]
                )
                values[row, column] = max(left_value, right_value)
        return values

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Place the agent at the top-left cell.

        Args:
            seed: Episode seed for ``np_random``, which draws only the failures of the
                stochastic variant. It never changes the action mapping.
            options: Unused.

        Returns:
            The one-hot observation of cell (0, 0) and an info dict with ``"position"``.
        """
        super().reset(seed=seed)
        self._row = 0
        self._column = 0
        self._collected_treasure = False
        return self._observation(), {"position": (self._row, self._column)}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move one row down and one column left or right.

        Args:
            action: 0 or 1, as a Python or NumPy integer.

        Returns:
            (observation, reward, terminated, truncated, info). ``truncated`` is always
            False because the episode terminates by itself after N steps.

        Raises:
            ValueError: If ``action`` is not in ``action_space``.
            RuntimeError: If called before ``reset`` or after the episode terminated.
        """
        if self._row is None:
            raise RuntimeError("DeepSeaEnv.step() was called before reset(). Call reset() first.")
        if self._row >= self._size:
            raise RuntimeError(
                "DeepSeaEnv.step() was called after the episode terminated. Call reset() "
                "to start a new episode."
            )
        if not self.action_space.contains(action):
            raise ValueError(f"action must be 0 or 1, got {action!r}.")

        moves_right = int(action) == int(self._action_mapping[self._row, self._column])

        reward = 0.0
        # The treasure check uses the column before the move, so the agent must already
        # stand in the last column and choose "right" once more.
        if moves_right and self._column == self._size - 1:
            reward += 1.0
            self._collected_treasure = True
        on_last_row = self._row == self._size - 1
        in_edge_column = self._column in (0, self._size - 1)
        if self._reward_noise_std > 0 and on_last_row and in_edge_column:
            reward += self._reward_noise_std * float(self.np_random.standard_normal())

        if moves_right:
            reward -= self._move_cost
            move_succeeds = self._deterministic or self.np_random.random() >= 1.0 / self._size
            if move_succeeds:
                self._column = min(self._column + 1, self._size - 1)
        else:
            self._column = max(self._column - 1, 0)

        self._row += 1
        terminated = self._row == self._size

        info: dict[str, Any] = {"position": (self._row, self._column)}
        if terminated:
            info["is_success"] = self._collected_treasure
        return self._observation(), reward, terminated, False, info

    def render(self) -> str | np.ndarray | None:
        """Render the grid in the chosen ``render_mode``.

        Returns:
            For "ansi", N lines of N characters: "A" is the agent, "*" the rewarding
            bottom-right cell and "." any other cell. For "rgb_array", a uint8 image
            ``[8 N, 8 N, 3]`` with the agent white, the rewarding cell gold and the rest
            dark blue. After the last step the agent has left the grid and is not drawn.
            None when ``render_mode`` is None.
        """
        if self.render_mode is None:
            gym.logger.warn(
                "DeepSeaEnv.render() was called without a render mode. Pass "
                'render_mode="ansi" or "rgb_array" when creating the environment.'
            )
            return None

        agent_visible = self._row is not None and self._row < self._size
        if self.render_mode == "rgb_array":
            cells = np.zeros((self._size, self._size, 3), dtype=np.uint8)
            cells[:, :] = (20, 30, 70)
            cells[self._size - 1, self._size - 1] = (230, 180, 30)
            if agent_visible:
                cells[self._row, self._column] = (255, 255, 255)
            return np.kron(cells, np.ones((8, 8, 1), dtype=np.uint8))

        cells = np.full((self._size, self._size), ".", dtype="<U1")
        cells[self._size - 1, self._size - 1] = "*"
        if agent_visible:
            cells[self._row, self._column] = "A"
        return "\n".join("".join(line) for line in cells) + "\n"

    def _observation(self) -> np.ndarray:
        observation = np.zeros((self._size, self._size), dtype=np.float32)
        if self._row is not None and self._row < self._size:
            observation[self._row, self._column] = 1.0
        return observation
