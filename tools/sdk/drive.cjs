// Runs one call through Alibaba Cloud's official Node.js SDK for Cloudauth
// (@alicloud/cloudauth20190307), for the drop-in tests. Reads {"endpoint", "key", "secret",
// "action", "params" (the API's own parameter names)} as JSON on stdin; prints {"body"} or
// {"error": {"kind", "code", "message", "status"}} as the SDK raised it.
const cloudauth = require('@alicloud/cloudauth20190307');
const OpenApi = require('@alicloud/openapi-client');
const Util = require('@alicloud/tea-util');
const tea = require('@alicloud/tea-typescript');

async function main() {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const job = JSON.parse(input);
  const Client = cloudauth.default;
  const client = new Client(new OpenApi.Config({
    accessKeyId: job.key, accessKeySecret: job.secret, endpoint: job.endpoint, protocol: 'http',
  }));
  const Request = cloudauth[`${job.action}Request`];
  // The models take camelCase names; `names()` maps them to the wire names.
  const wireToCamel = Object.fromEntries(Object.entries(Request.names()).map(([camel, wire]) => [wire, camel]));
  const fields = {};
  for (const [wire, value] of Object.entries(job.params)) fields[wireToCamel[wire] ?? wire] = value;
  const method = `${job.action[0].toLowerCase()}${job.action.slice(1)}WithOptions`;
  try {
    const response = await client[method](new Request(fields), new Util.RuntimeOptions({}));
    process.stdout.write(JSON.stringify({ body: tea.toMap(response.body) }));
  } catch (e) {
    process.stdout.write(JSON.stringify({
      error: { kind: e.name ?? 'Error', code: e.code ?? null, message: String(e.message), status: e.statusCode ?? null },
    }));
  }
}

main();
