// Driven by tests/api/test_node_client.py: the official notifications-node-client sends an
// email and an SMS to a running engine and reads both back (and the list and a template).
// Usage: node node_client_check.js <base_url> <api_key> <email_template> <sms_template>
// Prints one JSON object on stdout; exits non-zero with the error body on failure.
"use strict";
const { NotifyClient } = require("notifications-node-client");

const [baseUrl, apiKey, emailTemplate, smsTemplate] = process.argv.slice(2);
const client = new NotifyClient(baseUrl, apiKey);

async function untilDelivered(id) {
  const deadline = Date.now() + 10000;
  for (;;) {
    const got = (await client.getNotificationById(id)).data;
    if (got.status === "delivered" || Date.now() > deadline) return got;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function main() {
  const email = (await client.sendEmail(emailTemplate, "node@example.com", {
    personalisation: { name: "Node", code: "js-1" },
    reference: "node-email",
  })).data;
  const sms = (await client.sendSms(smsTemplate, "+16135550199", {
    personalisation: { code: "js-2" },
    reference: "node-sms",
  })).data;
  const emailBack = await untilDelivered(email.id);
  const smsBack = await untilDelivered(sms.id);
  const list = (await client.getNotifications()).data;
  const template = (await client.getTemplateById(emailTemplate)).data;
  let notFound = null;
  try {
    await client.getNotificationById("00000000-0000-4000-8000-000000000000");
  } catch (err) {
    notFound = { status: err.response.status, body: err.response.data };
  }
  process.stdout.write(JSON.stringify({ email, sms, emailBack, smsBack, list, template, notFound }));
}

main().catch((err) => {
  const detail = err.response ? { status: err.response.status, body: err.response.data } : String(err);
  process.stderr.write(JSON.stringify(detail) + "\n");
  process.exit(1);
});
