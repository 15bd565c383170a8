import time
from starlette.testclient import TestClient
from cornerstone.kernel.app import create_app
from cornerstone.kernel.config import KernelSettings
from cornerstone.kit.service_auth import mint_service_token


def test_x(databases):
    app = create_app(KernelSettings(kernel_database_url=databases.kernel_url, service_key="k" * 40, data_dir=databases.data_dir))
    with TestClient(app) as c:
        tok = mint_service_token("k" * 40, org_id="o1", actor_id="u1", actor_role="admin")
        h = {"Authorization": f"Bearer {tok}"}
        t = time.perf_counter()
        for i in range(100):
            r = c.post("/kernel/v1/orgs/o1/deals", json={"name": "x", "asset_class": "office"}, headers=h)
            assert r.status_code == 201, r.text
        print(databases.backend, "100 creates", time.perf_counter() - t)
        d = r.json()
        t = time.perf_counter()
        for i in range(100):
            r = c.post(f"/kernel/v1/orgs/o1/deals/{d['id']}/transitions", json={"to": "loi", "version": 1}, headers=h)
            assert r.status_code == 409
        print(databases.backend, "100 refusals", time.perf_counter() - t)
        print(r.json())


def test_y(databases):
    app = create_app(KernelSettings(kernel_database_url=databases.kernel_url, service_key="k" * 40, data_dir=databases.data_dir))
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
