"""Risk: order books (contract, recorded-book parsers, analytics) and the risk rules of the top
list (slippage, allocation, correlation clusters, liquidity warnings). Pure domain code: no
Dagster, no resources."""
