// node-postgres named queries (prepared once per connection by the driver)
// through pgsift, several connections sharing a smaller pool.
//   node prepared.js HOST PORT USER PASSWORD DATABASE CLIENTS ROUNDS
// Prints "ok N" and exits 0 when every result was the client's own.
'use strict';
const { Client } = require('pg');

const [host, port, user, password, database, clientsArg, roundsArg] = process.argv.slice(2);
const clients = Number(clientsArg), rounds = Number(roundsArg);
const problems = [];
let checks = 0;

function expect(what, got, want) {
  checks++;
  if (JSON.stringify(got) !== JSON.stringify(want))
    problems.push(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

async function worker(i) {
  const c = new Client({ host, port: Number(port), user, password, database });
  await c.connect();
  try {
    for (let k = 0; k < rounds; k++) {
      const tok = `n${i}-${k}`;
      let r = await c.query({ name: 'echo', text: 'select $1::text as v', values: [tok] });
      expect(`${tok} echo`, r.rows, [{ v: tok }]);
      r = await c.query({ name: 'sum', text: 'select $1::int + $2::int as s', values: [k, i] });
      expect(`${tok} sum`, r.rows, [{ s: k + i }]);
      r = await c.query({ name: 'series', text: 'select g from generate_series(1, $1::int) g', values: [i % 4 + 1] });
      expect(`${tok} series`, r.rows.map((x) => x.g), Array.from({ length: i % 4 + 1 }, (_, j) => j + 1));
      if (k % 3 === i % 3) {
        try {
          await c.query({ name: 'cast', text: 'select ($1::text)::int as n', values: [tok] });
          problems.push(`${tok}: bad cast passed`);
        } catch (e) {
          checks++;
          if (e.code !== '22P02' || !e.message.includes(tok)) problems.push(`${tok}: wrong error ${e.code} ${e.message}`);
        }
      }
      await c.query('BEGIN');
      r = await c.query({ name: 'echo', text: 'select $1::text as v', values: [tok + 'tx'] });
      expect(`${tok} tx`, r.rows, [{ v: tok + 'tx' }]);
      await c.query('COMMIT');
    }
  } finally {
    await c.end();
  }
}

(async () => {
  const results = await Promise.allSettled(Array.from({ length: clients }, (_, i) => worker(i)));
  results.forEach((r, i) => { if (r.status === 'rejected') problems.push(`client ${i}: ${r.reason}`); });
  if (problems.length) {
    console.log(problems.slice(0, 20).join('\n'));
    process.exit(1);
  }
  console.log(`ok ${checks}`);
})();
