// Drives @anthropic-ai/sdk (pinned in tools/agents) against a live Tokenwise; prints one JSON report.
// argv: base URL, a tw- key. Run by test_node_sdk.py.
const { createRequire } = require("node:module");
const agents = createRequire(process.env.AGENTS_DIR + "/");
const Anthropic = agents("@anthropic-ai/sdk").default;

async function main() {
  const [baseURL, apiKey] = process.argv.slice(2);
  const client = new Anthropic({ baseURL, apiKey, maxRetries: 0 });
  const model = "claude-sonnet-4-5";
  const hello = [{ role: "user", content: "hello there" }];
  const report = {};
  const created = await client.messages.create({ model, max_tokens: 64, messages: hello });
  report.create = { text: created.content[0].text, usage: created.usage };
  const stream = client.messages.stream({ model, max_tokens: 64, messages: hello });
  let text = "";
  stream.on("text", (delta) => { text += delta; });
  const final = await stream.finalMessage();
  report.stream = { text, output_tokens: final.usage.output_tokens };
  report.count = await client.messages.countTokens({ model, messages: hello });
  const tools = [{ name: "get_weather", description: "Weather", input_schema: { type: "object", properties: {} } }];
  const first = await client.messages.create({ model, max_tokens: 64, tools, tool_choice: { type: "any" },
    messages: [{ role: "user", content: "Paris?" }] });
  const use = first.content.find((block) => block.type === "tool_use");
  const second = await client.messages.create({ model, max_tokens: 64, tools, messages: [
    { role: "user", content: "Paris?" }, { role: "assistant", content: first.content },
    { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "sunny" }] }] });
  report.tools = { first: first.stop_reason, name: use.name, second: second.stop_reason };
  try {
    await new Anthropic({ baseURL, apiKey: "tw-wrong", maxRetries: 0 }).messages.create({ model, max_tokens: 8, messages: hello });
  } catch (error) {
    report.unauthenticated = { status: error.status, type: error.error && error.error.error.type,
      isAuthError: error instanceof Anthropic.AuthenticationError };
  }
  process.stdout.write(JSON.stringify(report));
}

main().catch((error) => { console.error(error); process.exit(1); });
