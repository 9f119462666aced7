"""Everything that stands in for the world outside the product, for demos, training, tests and the bench.

The synthetic Saga City and ``seed_demo`` (``city``), the core-system simulator and ``core_sim``
(``core_system``), the test JPKI CA (``jpki``), the test LGPKI chain of the city's document-signing
keys (``lgpki``), and the kiosks: the HTTP client of the kiosk API
(``kiosk_client``), the command-line kiosk ``kiosk`` and the browser kiosk (``kiosk_browser``).
Only the demo and test settings install this app; the product apps never import it.
"""
