"""Bulk jobs: POST /v2/notifications/bulk with NOTIFY_BULK_ROWS rows each."""

from common import NotifyUser
from locust import task


class BulkUser(NotifyUser):
    @task
    def bulk(self) -> None:
        self.send_bulk()
