"""Prints a value computed with numpy: the eigenvalues of a small symmetric matrix."""

import numpy as np

matrix = np.array([[2.0, 1.0], [1.0, 2.0]])
eigenvalues = np.linalg.eigvalsh(matrix)
print(f"numpy {np.__version__}: eigenvalues of [[2, 1], [1, 2]] = {eigenvalues.tolist()}")
