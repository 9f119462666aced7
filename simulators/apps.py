from django.apps import AppConfig


class SimulatorsConfig(AppConfig):
    name = "simulators"

    def ready(self) -> None:
        # The product never names the simulators: a development server that needs a document-signing
        # key asks for one by signal, and the test LGPKI chain answers it.
        from certificates.signing_keys import test_key_wanted
        from simulators.lgpki import test_key_install

        test_key_wanted.connect(test_key_install, dispatch_uid="simulators.lgpki.test_key_install")
