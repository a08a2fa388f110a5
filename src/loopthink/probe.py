"""A small logistic-regression probe (standardised features, L2, torch L-BFGS in float64).

Shared by the runtime monitor (``dynamics``) and the learned exit rule (``halting``); small enough
that a scikit-learn dependency would buy nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class LogisticModel:
    mean: np.ndarray
    std: np.ndarray
    weight: np.ndarray
    bias: float

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return ((np.asarray(X, dtype=np.float64) - self.mean) / self.std) @ self.weight + self.bias

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.decision_function(X)))


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 1e-3, max_iter: int = 200) -> LogisticModel:
    """L2-regularised logistic regression on standardised features (torch LBFGS, float64).

    Loss: mean binary cross-entropy + ``l2/2 * ||w||^2`` (the bias is not penalised)."""
    X = np.asarray(X, dtype=np.float64)
    y_t = torch.as_tensor(np.asarray(y, dtype=np.float64))
    mean = X.mean(0)
    std = X.std(0)
    std = np.where(std > 1e-12, std, 1.0)
    Z = torch.as_tensor((X - mean) / std)
    w = torch.zeros(X.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, tolerance_grad=1e-10, tolerance_change=1e-12, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(Z @ w + b, y_t) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return LogisticModel(mean, std, w.detach().numpy().copy(), float(b.detach()))
