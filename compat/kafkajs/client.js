// One kafkajs command per run: node client.js <command> <bootstrap> <topic>, JSON request on stdin,
// JSON answer on stdout. The Python scenarios in compat/scenarios decide what is right.
// A request's optional "security" connects over TLS and SASL:
// {"ca": "<CA PEM file>", "cert": "<client PEM>", "key": "<client key PEM>", "passphrase": "...",
//  "sasl": {"mechanism": "plain" | "scram-sha-256" | "scram-sha-512", "username": "...", "password": "..."}}
"use strict";
const fs = require("fs");
const { Kafka, CompressionTypes, logLevel } = require("kafkajs");

const [command, bootstrap, topic] = process.argv.slice(2);
let kafka; // made once the request, which may carry security settings, is read
const DEADLINE_MS = 45000;
const CODECS = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP };

const text = (buffer) => (buffer === null || buffer === undefined ? null : buffer.toString());

function describe(partition, message) {
  const headers = [];
  for (const [name, value] of Object.entries(message.headers || {})) {
    for (const one of Array.isArray(value) ? value : [value]) headers.push(name, text(one));
  }
  return { partition, key: text(message.key), payload: text(message.value), headers, ts: Number(message.timestamp) };
}

function headerObject(pairs) {
  // kafkajs takes repeated header names as an array of values under one name.
  const headers = {};
  for (let i = 0; i < pairs.length; i += 2) {
    const [name, value] = [pairs[i], pairs[i + 1]];
    headers[name] = name in headers ? [].concat(headers[name], value) : value;
  }
  return headers;
}

async function produce(request) {
  const producer = kafka.producer({ idempotent: request.idempotent, maxInFlightRequests: request.idempotent ? 1 : 5 });
  await producer.connect();
  try {
    await producer.send({
      topic,
      acks: -1,
      compression: CODECS[request.codec],
      messages: request.messages.map((m) => ({
        partition: m.partition,
        key: m.key,
        value: m.payload,
        headers: headerObject(m.headers),
        timestamp: m.ts === null ? undefined : String(m.ts),
      })),
    });
  } finally {
    await producer.disconnect();
  }
  return {};
}

function until(done, what) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const timer = setInterval(() => {
      if (done()) {
        clearInterval(timer);
        resolve();
      } else if (Date.now() - started > DEADLINE_MS) {
        clearInterval(timer);
        reject(new Error(`timed out waiting for ${what}`));
      }
    }, 100);
  });
}

async function read(request) {
  // kafkajs has no group-less consumer: a throwaway group, told where to start, stands in for assign().
  const consumer = kafka.consumer({ groupId: `${topic}-read-${Date.now()}`, maxBytes: 4 * 1024 * 1024 });
  const received = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        if (request.partitions.includes(partition)) received.push(describe(partition, message));
      },
    });
    await until(() => received.length >= request.count, `${request.count} messages`);
  } finally {
    await consumer.disconnect();
  }
  return received;
}

async function readAndCommit(request) {
  const consumer = kafka.consumer({ groupId: request.group });
  const values = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary }) => {
        for (const message of batch.messages) {
          if (values.length >= request.count) break;
          values.push(text(message.value));
          resolveOffset(message.offset);
          if (values.length === request.count) {
            await consumer.commitOffsets([{ topic, partition: batch.partition, offset: String(Number(message.offset) + 1) }]);
            consumer.pause([{ topic }]);
          }
        }
        await commitOffsetsIfNecessary();
      },
    });
    await until(() => values.length >= request.count, `${request.count} messages`);
  } finally {
    await consumer.disconnect();
  }
  return values;
}

async function groupSplit(request) {
  const members = [kafka.consumer({ groupId: request.group }), kafka.consumer({ groupId: request.group })];
  const owned = [[], []];
  const start = async (index) => {
    const member = members[index];
    member.on(member.events.GROUP_JOIN, (event) => {
      owned[index] = (event.payload.memberAssignment[topic] || []).slice().sort();
    });
    await member.connect();
    await member.subscribe({ topic });
    await member.run({ eachMessage: async () => {} });
  };
  try {
    await start(0);
    await until(() => owned[0].length === request.partitions, "the first member's assignment");
    const alone = owned[0];
    await start(1);
    const half = request.partitions / 2;
    await until(() => owned[0].length === half && owned[1].length === half, "the split");
    return { alone, first: owned[0], second: owned[1] };
  } finally {
    for (const member of members) await member.disconnect();
  }
}

async function withAdmin(work) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.disconnect();
  }
}

const commands = {
  produce,
  read,
  read_and_commit: readAndCommit,
  group_split: groupSplit,
  metadata: (request) =>
    withAdmin(async (admin) => {
      const { topics } = await admin.fetchTopicMetadata({ topics: request.topics });
      return Object.fromEntries(topics.map((t) => [t.name, t.partitions.length]));
    }),
  offset_for_time: (request) =>
    withAdmin(async (admin) => {
      const found = await admin.fetchTopicOffsetsByTimestamp(topic, request.timestamp);
      return Number(found.find((p) => p.partition === 0).offset);
    }),
  admin: (request) =>
    withAdmin(async (admin) => {
      await admin.createTopics({ topics: [{ topic, numPartitions: request.partitions }], waitForLeaders: true });
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      await admin.alterConfigs({
        resources: [{ type: 2, name: topic, configEntries: [{ name: "retention.ms", value: request.retention }] }],
      });
      const described = await admin.describeConfigs({
        resources: [{ type: 2, name: topic, configNames: ["retention.ms"] }],
        includeSynonyms: false,
      });
      const retention = described.resources[0].configEntries.find((e) => e.configName === "retention.ms");
      await admin.deleteTopics({ topics: [topic] });
      return {
        partitions: topics[0].partitions.length,
        "retention.ms": retention ? retention.configValue : null,
        listed_after_delete: (await admin.listTopics()).includes(topic),
      };
    }),
};

function connection(security) {
  if (!security) return {};
  const ssl = security.ca ? { ca: [fs.readFileSync(security.ca)] } : undefined;
  if (ssl && security.cert) {
    ssl.cert = fs.readFileSync(security.cert);
    ssl.key = fs.readFileSync(security.key);
    ssl.passphrase = security.passphrase;
  }
  return { ssl, sasl: security.sasl };
}

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", async () => {
  try {
    const request = JSON.parse(input || "{}");
    const settings = { clientId: "compat", brokers: [bootstrap], logLevel: logLevel.ERROR };
    kafka = new Kafka({ ...settings, ...connection(request.security) });
    const answer = await commands[command](request);
    // Exit only once a large answer has drained into the pipe.
    process.stdout.write(JSON.stringify(answer), () => process.exit(0));
  } catch (error) {
    process.stderr.write(`${error.stack || error}\n`);
    process.exit(1);
  }
});
