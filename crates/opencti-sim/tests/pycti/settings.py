"""The helper configuration the test connectors share: the simulator's URL
and token and the connector id come from the environment the Rust tests
set; the rest is the connector's own."""

import os


def helper_config(connector: dict) -> dict:
    return {
        "opencti": {
            "url": os.environ["OPENCTI_URL"],
            "token": os.environ["OPENCTI_TOKEN"],
            "json_logging": False,
        },
        "connector": {"id": os.environ["CONNECTOR_ID"], "log_level": "error", **connector},
    }
