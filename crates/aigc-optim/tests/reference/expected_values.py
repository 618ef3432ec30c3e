"""Print the expected parameters of the optimizer tests, in float64.

Each optimizer takes three steps on the 2-element parameter P0 with the fixed
gradients GRADS (set directly, not derived from a loss). The updates are the
textbook formulas, written independently of the Rust code, so the tests check
the implementation against the maths rather than against itself.

Run: python3 expected_values.py   (plain Python 3, no packages needed)
"""

import math

P0 = [1.0, -2.0]
GRADS = [[0.5, -1.0], [-0.25, 2.0], [1.0, 0.5]]


def sgd(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    """torch.optim.SGD: the momentum buffer starts as the first gradient."""
    p = list(P0)
    buf = None
    history = []
    for g in GRADS:
        g = [gi + weight_decay * pi for gi, pi in zip(g, p)]
        if momentum != 0.0:
            if buf is None:
                buf = list(g)
            else:
                buf = [momentum * b + (1.0 - dampening) * gi for b, gi in zip(buf, g)]
            if nesterov:
                g = [gi + momentum * b for gi, b in zip(g, buf)]
            else:
                g = list(buf)
        p = [pi - lr * gi for pi, gi in zip(p, g)]
        history.append(p)
    return history


def adam(lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False):
    """Adam (L2 decay added to the gradient) or AdamW (decoupled decay)."""
    p = list(P0)
    m = [0.0, 0.0]
    v = [0.0, 0.0]
    history = []
    for t, g in enumerate(GRADS, start=1):
        if decoupled:
            p = [pi - lr * weight_decay * pi for pi in p]
        else:
            g = [gi + weight_decay * pi for gi, pi in zip(g, p)]
        m = [beta1 * mi + (1.0 - beta1) * gi for mi, gi in zip(m, g)]
        v = [beta2 * vi + (1.0 - beta2) * gi * gi for vi, gi in zip(v, g)]
        m_hat = [mi / (1.0 - beta1**t) for mi in m]
        v_hat = [vi / (1.0 - beta2**t) for vi in v]
        p = [pi - lr * mh / (math.sqrt(vh) + eps) for pi, mh, vh in zip(p, m_hat, v_hat)]
        history.append(p)
    return history


CASES = {
    "SGD_PLAIN": sgd(0.1),
    "SGD_MOMENTUM": sgd(0.1, momentum=0.9),
    "SGD_NESTEROV": sgd(0.1, momentum=0.9, nesterov=True),
    "SGD_DAMPENING_DECAY": sgd(0.1, momentum=0.9, dampening=0.5, weight_decay=0.1),
    "ADAM": adam(0.1),
    "ADAM_L2": adam(0.1, beta1=0.8, beta2=0.99, weight_decay=0.1),
    "ADAMW": adam(0.1, weight_decay=0.1, decoupled=True),
}

for name, history in CASES.items():
    print(f"const {name}: [[f64; 2]; 3] = [")
    for p in history:
        print(f"    [{p[0]!r}, {p[1]!r}],")
    print("];")
