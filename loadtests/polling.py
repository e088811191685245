"""Status polling: each user sends a few emails, then polls them by id and lists its
service's notifications, as integrations that do not use callbacks do."""

import random

from common import NotifyUser
from locust import task


class PollingUser(NotifyUser):
    def on_start(self) -> None:
        super().on_start()
        self.ids: list[str] = []
        for _ in range(3):
            response = self.send_email()
            if response.status_code == 201:
                self.ids.append(response.json()["id"])

    @task(10)
    def status(self) -> None:
        if not self.ids:
            self.send_email()
            return
        nid = random.choice(self.ids)
        with self.client.get(
            f"/v2/notifications/{nid}",
            headers=self.headers(),
            name="/v2/notifications/[id]",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
            elif response.json().get("status") not in (
                "created",
                "sending",
                "sent",
                "pending",
                "delivered",
            ):
                response.failure(f"unexpected status {response.json().get('status')}")

    @task(1)
    def listing(self) -> None:
        with self.client.get(
            "/v2/notifications?template_type=email",
            headers=self.headers(),
            name="/v2/notifications?template_type",
            catch_response=True,
        ) as r:
            if r.status_code != 200:
                r.failure(f"{r.status_code}: {r.text[:200]}")
