"""The realistic mix, like GC Notify's nightly load test: 35% email, 35% SMS, 10% email
with an attached file, 20% bulk jobs."""

from common import NotifyUser
from locust import task


class MixUser(NotifyUser):
    @task(35)
    def email(self) -> None:
        self.send_email()

    @task(35)
    def sms(self) -> None:
        self.send_sms()

    @task(10)
    def email_with_file(self) -> None:
        self.send_email(with_file=True)

    @task(20)
    def bulk(self) -> None:
        self.send_bulk()
