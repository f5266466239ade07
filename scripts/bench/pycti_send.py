"""pycti's send_stix2_bundle on the bundle in a file, against the platform at
OPENCTI_URL, with the figures send_bundle_bench prints for ours: objects per
second, CPU per object (every thread of the process) and peak RSS above the
idle process. Run by scripts/bench-send.sh.

Usage: python pycti_send.py BUNDLE_FILE OBJECTS [BUNDLES]
"""

import json
import os
import resource
import sys
import time

from pycti import OpenCTIConnectorHelper


def status_kib(key):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    path, objects = sys.argv[1], int(sys.argv[2])
    bundles = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    helper = OpenCTIConnectorHelper(
        {
            "opencti": {
                "url": os.environ["OPENCTI_URL"],
                "token": os.environ["OPENCTI_TOKEN"],
                "json_logging": False,
            },
            "connector": {
                "id": os.environ["CONNECTOR_ID"],
                "type": "EXTERNAL_IMPORT",
                "name": "pycti send bench",
                "scope": "identity,indicator",
                "log_level": "error",
            },
        }
    )
    work_id = helper.api.work.initiate_work(helper.connect_id, "pycti send bench")
    # Connected and warmed up before measuring, as on our side.
    with open(path) as handle:
        first = json.load(handle)["objects"][:2]
    helper.send_stix2_bundle(
        json.dumps({"type": "bundle", "id": "bundle--warm-up", "objects": first}),
        work_id=work_id,
    )
    del first
    idle_kib = status_kib("VmRSS:")
    cpu_before, started = cpu_seconds(), time.monotonic()
    after_each = []
    for _ in range(bundles):
        with open(path) as handle:
            text = handle.read()
        helper.send_stix2_bundle(text, work_id=work_id)
        del text
        after_each.append(status_kib("VmRSS:") // 1024)
    seconds = time.monotonic() - started
    cpu = cpu_seconds() - cpu_before
    sent = objects * bundles
    above_idle = (status_kib("VmHWM:") - idle_kib) * 1024
    print(
        "RESULT input=pycti objects=%d bundles=%d seconds=%.3f objects_per_s=%.0f "
        "cpu_us_per_object=%.2f idle_rss_mb=%.1f peak_above_idle_mb=%.1f "
        "peak_above_idle_bytes_per_object=%.0f rss_after_each_mb=%s"
        % (
            objects,
            bundles,
            seconds,
            sent / seconds,
            cpu * 1e6 / sent,
            idle_kib / 1024,
            above_idle / 1048576,
            above_idle / objects,
            after_each,
        ),
        flush=True,
    )
    helper.api.work.to_processed(work_id, "sent")
    # The helper's ping thread is a daemon; leave without waiting for it.
    os._exit(0)


if __name__ == "__main__":
    main()
