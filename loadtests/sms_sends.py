"""Single SMS sends: POST /v2/notifications/sms with JWT auth."""

from common import NotifyUser
from locust import task


class SmsUser(NotifyUser):
    @task
    def sms(self) -> None:
        self.send_sms()
