// One traced request of a node-postgres application, instrumented by the
// real OpenTelemetry SDK with sqlcommenter comments on (the traceparent of
// each pg.query span goes into its statement), through pgsift.
//
//   node traced.js HOST PORT USER PASSWORD DBNAME OTLP_URL
//
// Prints "connected" once logged in, waits for a line on stdin, then runs
// the request (a parent query, a loop of 20 child queries with $1, a
// pg_sleep(0.3)), flushes its spans to OTLP_URL and prints "trace <id>".
'use strict';

const api = require('@opentelemetry/api');
const { NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
const { SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg');
const { resourceFromAttributes } = require('@opentelemetry/resources');

const [host, port, user, password, database, otlpUrl] = process.argv.slice(2);

const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': 'otel-app' }),
  spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url: otlpUrl }))],
});
provider.register();
registerInstrumentations({
  instrumentations: [new PgInstrumentation({ addSqlCommenterCommentToQueries: true })],
});
const pg = require('pg'); // after the instrumentation is registered

function line() {
  return new Promise((resolve) => process.stdin.once('data', resolve));
}

async function main() {
  const client = new pg.Client({ host, port: Number(port), user, password, database });
  await client.connect();
  console.log('connected');
  await line();
  const tracer = api.trace.getTracer('otel-app');
  const traceId = await tracer.startActiveSpan('GET /orders', async (span) => {
    const parent = await client.query('select id from generate_series(1, 20) as id order by id');
    let sum = 0;
    for (const row of parent.rows) {
      const r = await client.query('select $1::int * 2 as order_line', [row.id]);
      sum += r.rows[0].order_line;
    }
    if (sum !== 420) throw new Error('wrong sum ' + sum);
    await client.query('select pg_sleep(0.3)');
    span.end();
    return span.spanContext().traceId;
  });
  await client.end();
  await provider.forceFlush();
  await provider.shutdown();
  console.log('trace ' + traceId);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
