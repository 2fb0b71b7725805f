"""Matplotlib pictures of the quadrotor: an RGB frame of one drone, and a PNG of a whole trajectory.

Figures are built with the object API and the Agg canvas (no pyplot), so rendering never touches a
global backend or opens a window.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rl.envs.batch import POSITION_LIMIT
from rl.envs.quadrotor import CRAZYFLIE, QuadrotorParams

DRONE_SCALE = 4.0
"""The drone is drawn this many times its size (56 mm across) to be visible in the 1.2 m box."""


def _rotation(quaternion: Sequence[float]) -> np.ndarray:
    w, x, y, z = quaternion
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def euler_angles(states: np.ndarray) -> np.ndarray:
    """Roll, pitch, yaw (ZYX convention, radians) ``[T, 3]`` of states ``[T, 17]``."""
    w, x, y, z = np.asarray(states, dtype=np.float64)[:, 3:7].T
    roll = np.arctan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = np.arcsin(np.clip(2 * (w * y - z * x), -1.0, 1.0))
    yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return np.stack([roll, pitch, yaw], axis=1)


def _box_axes(fig: Figure, position) -> "Axes3D":  # noqa: F821
    ax = fig.add_subplot(position, projection="3d")
    for set_lim in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
        set_lim(-POSITION_LIMIT, POSITION_LIMIT)
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    ax.set_zlabel("z [m]")
    ax.scatter([0], [0], [0], marker="x", color="red", s=40, label="target")
    return ax


def _draw_drone(ax, state: Sequence[float], params: QuadrotorParams) -> None:
    centre = np.asarray(state[0:3], dtype=np.float64)
    rotation = _rotation(state[3:7])
    for (x, y), colour in zip(params.rotor_positions, ("tab:red", "tab:blue", "tab:blue", "tab:red")):
        tip = centre + DRONE_SCALE * rotation @ np.array([x, y, 0.0])
        ax.plot(*np.stack([centre, tip]).T, color=colour, linewidth=2)
        ax.scatter(*tip, color=colour, s=12)
    thrust_axis = centre + DRONE_SCALE * 0.04 * rotation[:, 2]
    ax.plot(*np.stack([centre, thrust_axis]).T, color="black", linewidth=1)


def render_drone(
    state: Sequence[float], trail: Sequence[Sequence[float]] = (), params: QuadrotorParams = CRAZYFLIE, size: int = 400
) -> np.ndarray:
    """RGB frame ``[size, size, 3]`` uint8 of a drone (state of 17 values) and its trail of positions.

    Front rotors (body +x) are red, rear ones blue, the black stick is the thrust axis.
    """
    fig = Figure(figsize=(size / 100, size / 100), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = _box_axes(fig, 111)
    if len(trail) > 1:
        ax.plot(*np.asarray(trail, dtype=np.float64).T, color="grey", linewidth=1)
    _draw_drone(ax, state, params)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[:, :, :3].copy()


def plot_trajectory(
    states: np.ndarray,
    path: str | Path,
    dt: float = 0.01,
    params: QuadrotorParams = CRAZYFLIE,
    title: str = "Quadrotor trajectory",
) -> Path:
    """Save a PNG of a recorded trajectory ``states`` ``[T, 17]`` (e.g. ``env.state`` each step).

    Left: the 3D path against the target at the origin, with the drone drawn at its start and end.
    Right: position against the target (top) and roll, pitch, yaw in degrees (bottom) over time.
    """
    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 2 or states.shape[1] != 17 or len(states) < 1:
        raise ValueError(f"states must have shape [T, 17] with T >= 1, got {states.shape}")
    time = np.arange(len(states)) * dt
    fig = Figure(figsize=(12, 6), dpi=100)
    canvas = FigureCanvasAgg(fig)
    fig.suptitle(title)
    ax3d = _box_axes(fig, 121)
    ax3d.plot(*states[:, 0:3].T, color="tab:green", linewidth=1.5, label="path")
    _draw_drone(ax3d, states[0], params)
    _draw_drone(ax3d, states[-1], params)
    ax3d.legend(loc="upper left")

    ax_pos = fig.add_subplot(222)
    for axis, name in enumerate("xyz"):
        ax_pos.plot(time, states[:, axis], label=name)
    ax_pos.axhline(0.0, color="red", linestyle="--", linewidth=1, label="target")
    ax_pos.set_ylabel("position [m]")
    ax_pos.legend(loc="upper right", ncol=4)

    ax_att = fig.add_subplot(224, sharex=ax_pos)
    for angles, name in zip(np.degrees(euler_angles(states)).T, ("roll", "pitch", "yaw")):
        ax_att.plot(time, angles, label=name)
    ax_att.set_xlabel("time [s]")
    ax_att.set_ylabel("attitude [deg]")
    ax_att.legend(loc="upper right", ncol=3)
    path = Path(path)
    canvas.print_png(str(path))
    return path
