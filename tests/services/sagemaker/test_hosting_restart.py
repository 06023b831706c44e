"""Endpoints outlive a restart of the server: the next server starts them again from the
configuration they were serving, and they answer as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tule.testing import TuleServer, hosting
from tule.testing.hosting import create_model, csv_body, deploy, upload_model, variant


def _predict(server: TuleServer, endpoint: str, rows: np.ndarray) -> list[float]:
    answer = server.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Body=csv_body(rows)
    )
    return [float(v) for v in answer["Body"].read().split()]


def test_an_endpoint_serves_again_after_the_server_restarts(tmp_path: Path) -> None:
    _, archive, x = hosting.xgboost_model()
    with TuleServer(tmp_path, fsync=False) as first:
        sm, s3 = first.client("sagemaker"), first.client("s3")
        s3.create_bucket(Bucket="restart-models")
        uri = upload_model(s3, "restart-models", "m/model.tar.gz", archive)
        create_model(sm, "restart-model", uri)
        deploy(sm, "survivor", [variant("AllTraffic", "restart-model")])
        # The configuration is deleted: the endpoint keeps its own copy, as on AWS.
        sm.delete_endpoint_config(EndpointConfigName="survivor-config")
        before = _predict(first, "survivor", x[:5])
    with TuleServer(tmp_path, fsync=False) as second:
        sm = second.client("sagemaker")
        status = sm.describe_endpoint(EndpointName="survivor")["EndpointStatus"]
        assert status in ("SystemUpdating", "InService")
        described = hosting.wait_endpoint(sm, "survivor")
        assert described["EndpointStatus"] == "InService", described
        assert described["EndpointConfigName"] == "survivor-config"
        assert _predict(second, "survivor", x[:5]) == before
