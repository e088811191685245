"""Single email sends: POST /v2/notifications/email with JWT auth."""

from common import NotifyUser
from locust import task


class EmailUser(NotifyUser):
    @task
    def email(self) -> None:
        self.send_email()
