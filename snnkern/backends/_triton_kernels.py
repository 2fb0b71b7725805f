"""The Triton kernels of the triton backend (snnkern/backends/triton.py, which imports this module on first
use, so that `import snnkern` never imports triton and TRITON_INTERPRET is read when the kernels are built).

Compile-time (tl.constexpr): the variant (RESET, DELAY, DETACH, SG), which optional arrays exist, the
storage layout (FLAT, ALIGN) and BLOCK. Runtime: T, B, N, strides, beta, threshold and the slope, so a
new size or slope never recompiles.
"""
import triton
import triton.language as tl

_SIZES = ("T", "B", "N", "x_st", "x_sb", "s_st", "s_sb", "z_st", "z_sb", "gs_st", "gs_sb", "gx_st", "gx_sb",
          "beta_sn", "theta_sn")


def _jit(fn):
    """triton.jit, never specialising on the sizes and strides (no recompilation when they change)."""
    args = fn.__code__.co_varnames[:fn.__code__.co_argcount]
    return triton.jit(fn, do_not_specialize=[name for name in _SIZES if name in args])


# ------------------------------------------------------------------------------------------- kernels
# Reset ids (snnkern/_ids.py): 0 subtract, 1 zero, 2 none.
# Surrogate ids: 0 fast_sigmoid, 1 sigmoid, 2 arctan, 3 triangle. To add one, see csrc/lif_common.h; its
# branch here is the same formula.

@_jit
def _surrogate_grad(z, k, SG: tl.constexpr):
    if SG == 0:  # 1 / (1 + k|z|)^2
        d = 1.0 + k * tl.abs(z)
        sg = 1.0 / (d * d)
    elif SG == 1:  # k sig(kz) (1 - sig(kz)) = k e / (1 + e)^2, e = exp(-k|z|) <= 1
        e = tl.exp(-k * tl.abs(z))
        d = 1.0 + e
        sg = k * e / (d * d)
    elif SG == 2:  # (k / 2) / (1 + (pi/2 k z)^2)
        a = 1.5707963267948966 * k * z
        sg = (k * 0.5) / (1.0 + a * a)
    else:  # k max(0, 1 - k|z|)
        w = 1.0 - k * tl.abs(z)
        sg = k * tl.where(w > 0.0, w, 0.0)
    return sg


@_jit
def _spike(z):  # H(z) with H(0) = 0; NaN for a NaN or infinite z
    return (z > 0.0).to(z.dtype) + z * 0.0


@_jit
def _reset(h, theta, s, RESET: tl.constexpr):  # the state after an immediate reset
    if RESET == 0:
        v = h - theta * s
    elif RESET == 1:
        v = h * (1.0 - s)
    else:
        v = h
    return v


@_jit
def _program_lanes(B, N, beta_ptr, theta_ptr, beta_sn, theta_sn, ALIGN: tl.constexpr, BLOCK: tl.constexpr):
    """This program's lanes b*N + n, the number of lanes B*N, which lanes exist, and their beta and theta."""
    lanes = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    n_lanes = tl.multiple_of(B * N, ALIGN)
    mask = lanes < n_lanes
    n = lanes % N
    beta = tl.load(beta_ptr + n * beta_sn, mask=mask, other=0.0)
    theta = tl.load(theta_ptr + n * theta_sn, mask=mask, other=1.0)
    return lanes, n_lanes, mask, beta, theta


@_jit
def _lanes(N, lanes, sb, FLAT: tl.constexpr):
    """Element offsets within one time step of a [T, B, N] array with batch stride sb (N when FLAT)."""
    if FLAT:
        off = lanes
    else:
        b = lanes // N
        off = b.to(tl.int64) * sb + (lanes - b * N)
    return off


@_jit
def _lif_fwd_kernel(
    # x, spikes, z: [T, B, N] storage dtype; v0, v_out: [B, N] contiguous compute dtype;
    # beta, theta: [N] or one value, compute dtype
    x_ptr, s_ptr, z_ptr, v0_ptr, v_out_ptr, beta_ptr, theta_ptr,
    # sizes
    T, B, N,
    # strides in elements over time (_st) and batch (_sb); beta_sn, theta_sn: 0 one value, 1 per neuron
    x_st, x_sb, s_st, s_sb, z_st, z_sb, beta_sn, theta_sn,
    # variant: reset id, delayed reset, store z = h - theta for the backward, v0 given
    RESET: tl.constexpr, DELAY: tl.constexpr, STORE_Z: tl.constexpr, HAS_V0: tl.constexpr,
    # compute dtype; z saturation for half storage (largest finite, smallest normal; 0 for none)
    ACC: tl.constexpr, Z_MAX: tl.constexpr, Z_TINY: tl.constexpr,
    # layout: batch rows contiguous in every array (then lanes are contiguous); ALIGN = 16 when B*N and
    # the time strides are multiples of 16, which then come in units of 16 (else 1); lanes per program
    FLAT: tl.constexpr, ALIGN: tl.constexpr, BLOCK: tl.constexpr,
):
    lanes, n_lanes, mask, beta, theta = _program_lanes(B, N, beta_ptr, theta_ptr, beta_sn, theta_sn, ALIGN, BLOCK)
    # strides in elements, 64-bit (t * stride may pass 2^31) and visibly a multiple of ALIGN (a hint on an
    # argument would be dropped): with step addresses recomputed from t rather than carried by the loop,
    # the compiler proves 16-element alignment and issues vector loads and stores
    x_st, s_st, z_st = x_st.to(tl.int64) * ALIGN, s_st.to(tl.int64) * ALIGN, z_st.to(tl.int64) * ALIGN
    u = tl.load(v0_ptr + lanes, mask=mask, other=0.0) if HAS_V0 else tl.zeros([BLOCK], ACC)
    r = _spike(u - theta)  # delayed reset: the spike owed by the incoming state
    x_ptrs = x_ptr + _lanes(N, lanes, x_sb, FLAT)
    s_ptrs = s_ptr + _lanes(N, lanes, s_sb, FLAT)
    z_ptrs = z_ptr + _lanes(N, lanes, z_sb, FLAT)
    x_next = tl.load(x_ptrs, mask=mask, other=0.0)
    for t in range(T):
        x = x_next.to(ACC)
        # prefetch step t + 1 (the masks are written as lane bounds: the interpreter mistypes a tensor
        # mask & a scalar condition)
        x_next = tl.load(x_ptrs + (t + 1) * x_st, mask=lanes < tl.where(t + 1 < T, n_lanes, 0), other=0.0)
        if DELAY:  # m = beta*m + x - theta*r | beta*((1 - r)*m) + x | beta*m + x
            if RESET == 0:
                h = (beta * u + x) - theta * r
            elif RESET == 1:
                h = beta * ((1.0 - r) * u) + x
            else:
                h = beta * u + x
        else:
            h = beta * u + x
        z = h - theta
        s = _spike(z)
        if DELAY:
            u = h
            r = s
        else:
            u = _reset(h, theta, s, RESET)
        tl.store(s_ptrs + t * s_st, s.to(s_ptr.dtype.element_ty), mask=mask)
        if STORE_Z:
            if Z_MAX != 0:  # saturate (no inf), and a positive z stays positive after rounding
                z = tl.where(z > Z_MAX, Z_MAX, tl.where(z < -Z_MAX, -Z_MAX, z))
                zq = z.to(z_ptr.dtype.element_ty).to(ACC)
                z = tl.where((s > 0.0) & ~(zq > 0.0), Z_TINY, zq)
            tl.store(z_ptrs + t * z_st, z.to(z_ptr.dtype.element_ty), mask=mask)
    tl.store(v_out_ptr + lanes, u, mask=mask)


# Backward (BPTT), with u the state carried between steps, sg = sg(z) the surrogate derivative at
# z = h - theta, gs = dL/ds[t], gu = dL/du[t] flowing back from the future (dL/dstate at t = T-1),
# nd = 0 if DETACH else 1 (detach_reset drops every nd term: no gradient through the reset):
#   immediate (u = v):  h = beta*v[t-1] + x, v = h - theta*s | h*(1 - s) | h
#       gh = gs*sg + gu*dv/dh,   dv/dh     = 1 - theta*sg*nd | (1 - s) - h*sg*nd | 1
#       dL/dtheta += -gs*sg + gu*dv/dtheta,  dv/dtheta = -s + theta*sg*nd | h*sg*nd | 0
#       dL/dbeta += gh*v[t-1];  dL/dx[t] = gh;  gu = beta*gh
#   delayed (u = m):    m = beta*m[t-1] + x - theta*r | beta*(1 - r)*m[t-1] + x | beta*m[t-1] + x,
#                       r = H(zp), zp = m[t-1] - theta (z[t-1], or v0 - theta at t = 0), sgr = sg(zp)
#       gm = gs*sg + gu;  dL/dx[t] = gm
#       dm/dm[t-1] = beta - theta*sgr*nd | beta*(1 - r) - beta*m[t-1]*sgr*nd | beta     (gu = gm*that)
#       dm/dtheta  = -r + theta*sgr*nd   | beta*m[t-1]*sgr*nd               | 0        (dL/dtheta += -gs*sg + gm*that)
#       dm/dbeta   = m[t-1]              | (1 - r)*m[t-1]                   | m[t-1]   (dL/dbeta += gm*that)
# The "none" reset removes every reset term; dL/dv0 is the final gu. The state before step t is rebuilt
# from the stored z[t-1] (h = z + theta, then the reset), or is v0 at t = 0.
@_jit
def _lif_bwd_kernel(
    # z, grad_spikes, grad_x: [T, B, N] storage dtype; v0, grad_state, grad_v0: [B, N] contiguous compute
    # dtype; grad_beta, grad_theta: [B, N] per-lane sums over time; beta, theta: [N] or one value;
    # slope: one value, compute dtype
    z_ptr, gs_ptr, gx_ptr, v0_ptr, gstate_ptr, gv0_ptr, gbeta_ptr, gtheta_ptr, beta_ptr, theta_ptr, slope_ptr,
    # sizes
    T, B, N,
    # strides in elements over time (_st) and batch (_sb); beta_sn, theta_sn: 0 one value, 1 per neuron
    z_st, z_sb, gs_st, gs_sb, gx_st, gx_sb, beta_sn, theta_sn,
    # variant
    RESET: tl.constexpr, DELAY: tl.constexpr, DETACH: tl.constexpr, SG: tl.constexpr,
    # optional arrays: v0 and grad_state given; grad_v0, grad_beta, grad_theta wanted
    HAS_V0: tl.constexpr, HAS_GSTATE: tl.constexpr, NEED_V0: tl.constexpr, NEED_BETA: tl.constexpr,
    NEED_THETA: tl.constexpr,
    # compute dtype and layout, as in the forward
    ACC: tl.constexpr, FLAT: tl.constexpr, ALIGN: tl.constexpr, BLOCK: tl.constexpr,
):
    lanes, n_lanes, mask, beta, theta = _program_lanes(B, N, beta_ptr, theta_ptr, beta_sn, theta_sn, ALIGN, BLOCK)
    z_st, gs_st, gx_st = z_st.to(tl.int64) * ALIGN, gs_st.to(tl.int64) * ALIGN, gx_st.to(tl.int64) * ALIGN
    k = tl.load(slope_ptr)
    nd = 0.0 if DETACH else 1.0
    u0 = tl.load(v0_ptr + lanes, mask=mask, other=0.0) if HAS_V0 else tl.zeros([BLOCK], ACC)
    gu = tl.load(gstate_ptr + lanes, mask=mask, other=0.0) if HAS_GSTATE else tl.zeros([BLOCK], ACC)
    gbeta = tl.zeros([BLOCK], ACC)
    gtheta = tl.zeros([BLOCK], ACC)
    z_ptrs = z_ptr + _lanes(N, lanes, z_sb, FLAT)  # at t = 0; step t adds t * stride (see the forward)
    gs_ptrs = gs_ptr + _lanes(N, lanes, gs_sb, FLAT)
    gx_ptrs = gx_ptr + _lanes(N, lanes, gx_sb, FLAT)
    z = tl.load(z_ptrs + (T - 1) * z_st, mask=mask, other=0.0).to(ACC)
    zp_next = tl.load(z_ptrs + (T - 2) * z_st, mask=lanes < tl.where(T > 1, n_lanes, 0), other=0.0)
    gs_next = tl.load(gs_ptrs + (T - 1) * gs_st, mask=mask, other=0.0)
    for i in range(T):
        t = T - 1 - i
        zp_raw = zp_next
        gs = gs_next.to(ACC)
        # prefetch z[t-2] and dL/ds[t-1]
        zp_next = tl.load(z_ptrs + (t - 2) * z_st, mask=lanes < tl.where(t > 1, n_lanes, 0), other=0.0)
        gs_next = tl.load(gs_ptrs + (t - 1) * gs_st, mask=lanes < tl.where(t > 0, n_lanes, 0), other=0.0)
        # the state before step t: rebuilt from z[t-1], or v0 at t = 0
        zp = tl.where(t > 0, zp_raw.to(ACC), u0 - theta)
        u_prev = zp + theta if DELAY else _reset(zp + theta, theta, _spike(zp), RESET)
        u_prev = tl.where(t > 0, u_prev, u0)
        s = _spike(z)
        sg = _surrogate_grad(z, k, SG)
        if DELAY:
            gx = gs * sg + gu
            du = beta
            dth = tl.zeros([BLOCK], ACC)
            db = u_prev
            if RESET == 0:
                sgr = _surrogate_grad(zp, k, SG)
                du = beta - theta * sgr * nd
                dth = -_spike(zp) + theta * sgr * nd
            elif RESET == 1:
                r = _spike(zp)
                sgr = _surrogate_grad(zp, k, SG)
                du = beta * (1.0 - r) - beta * u_prev * sgr * nd
                dth = beta * u_prev * sgr * nd
                db = (1.0 - r) * u_prev
            gtheta += -gs * sg + gx * dth
            gbeta += gx * db
            gu = gx * du
        else:
            dvdh = tl.full([BLOCK], 1.0, ACC)
            dvdth = tl.zeros([BLOCK], ACC)
            if RESET == 0:
                dvdh = 1.0 - theta * sg * nd
                dvdth = -s + theta * sg * nd
            elif RESET == 1:
                h = z + theta
                dvdh = (1.0 - s) - h * sg * nd
                dvdth = h * sg * nd
            gx = gs * sg + gu * dvdh
            gtheta += -gs * sg + gu * dvdth
            gbeta += gx * u_prev
            gu = beta * gx
        tl.store(gx_ptrs + t * gx_st, gx.to(gx_ptr.dtype.element_ty), mask=mask)
        z = zp
    if NEED_V0:
        tl.store(gv0_ptr + lanes, gu, mask=mask)
    if NEED_BETA:
        tl.store(gbeta_ptr + lanes, gbeta, mask=mask)
    if NEED_THETA:
        tl.store(gtheta_ptr + lanes, gtheta, mask=mask)


@_jit
def _interpreter_probe(out_ptr, T):
    """Counts to T over a runtime loop bound, as the kernels loop over time: the construct that Triton 3.6's
    interpreter fails on under numpy >= 2.4 (snnkern/backends/triton.py's status runs it when interpreting)."""
    count = tl.zeros([16], tl.float32)
    for t in range(T):
        count += 1.0
    tl.store(out_ptr + tl.arange(0, 16), count)
