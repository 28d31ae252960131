// Runs calls through the official `dub` TypeScript SDK (npm), as a site's backend would:
//   new Dub({ token, serverURL }), then dub.track.<op>(request)
// Reads {"serverURL": ..., "calls": [{"op": "lead", "token": ..., "request": {...}}, ...]} on stdin;
// prints one JSON line per call: {"ok": <the SDK's result>} or {"error": {name, statusCode, code, message}}.
import { Dub } from "dub";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const { serverURL, calls } = JSON.parse(Buffer.concat(chunks).toString("utf8"));

for (const { op, token, request } of calls) {
  const dub = new Dub({ token, serverURL });
  try {
    const result = await dub.track[op](request);
    console.log(JSON.stringify({ ok: result }));
  } catch (error) {
    console.log(
      JSON.stringify({
        error: {
          name: error.name,
          statusCode: error.statusCode ?? null,
          code: error.data$?.error?.code ?? error.error?.code ?? null,
          message: error.message,
        },
      }),
    );
  }
}
