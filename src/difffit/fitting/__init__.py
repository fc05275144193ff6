"""Pure compute of the search: starts, batched optimisation, quality metrics, refinement."""
