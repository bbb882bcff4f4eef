"""Experiments and feature flags, served in GrowthBook's formats.

======================  ==========================================================================
module                  what it holds
======================  ==========================================================================
``assign.py``           GrowthBook's deterministic assignment: FNV-1a 32-bit, hash versions 1
                        and 2, bucket ranges (weights, coverage), namespaces, the variation choice
``config.py``           the experiment and feature models, their validation, and the two payloads
                        GrowthBook clients read (legacy ``/config`` overrides, SDK features)
``store.py``            experiments and features in the catalog: create, list, get, update, delete
``webhooks.py``         endpoints per project, deliveries signed the Standard Webhooks way, retries
                        with backoff, the delivery log
``egress.py``           the SSRF guard for outgoing requests: only public addresses, checked again
                        at every delivery
``stats.py``            the results statistics: rates, uplift intervals, z-test, chance to win,
                        sample-ratio mismatch, the assignment replay
``goal.py``             the goal metric of the results: one condition of the query language
``analysis.py``         results from the lake: exposures (each accepted shape) joined to the
                        goal, the statistics per variation, the sample-ratio check and replay
``results.py``          the ``experiment_results`` table, its build, and the results served
======================  ==========================================================================
"""
