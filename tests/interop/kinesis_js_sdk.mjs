// Drives a Shardline region with AWS's JavaScript SDK v3, which speaks HTTP/2 to
// every Kinesis endpoint. Prints one JSON document of what it saw; the Python test
// (tests/integration/test_js_sdk.py) asserts on it.
import {
  KinesisClient,
  CreateStreamCommand,
  DescribeAccountSettingsCommand,
  DescribeStreamSummaryCommand,
  DescribeStreamConsumerCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  PutRecordCommand,
  PutRecordsCommand,
  RegisterStreamConsumerCommand,
  SubscribeToShardCommand,
} from '@aws-sdk/client-kinesis';

const [endpoint, stream] = process.argv.slice(2);
// A region started with --credentials needs a key it knows; others accept any.
const client = new KinesisClient({
  region: 'us-east-1',
  endpoint,
  credentials: {
    accessKeyId: process.env.SHARDLINE_ACCESS_KEY_ID ?? 'local',
    secretAccessKey: process.env.SHARDLINE_SECRET_ACCESS_KEY ?? 'local',
  },
});
const text = (bytes) => Buffer.from(bytes).toString('utf8');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const deadline = Date.now() + 60_000;

// The SDK's own waiter sleeps 10 s between checks; a stream here is ACTIVE in ms.
async function untilActive(name) {
  while (Date.now() < deadline) {
    const { StreamDescriptionSummary } = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (StreamDescriptionSummary.StreamStatus === 'ACTIVE') return StreamDescriptionSummary;
    await sleep(50);
  }
  throw new Error(`${name} not ACTIVE in time`);
}

async function errorOf(command) {
  try {
    await client.send(command);
    return null;
  } catch (error) {
    return { name: error.name, status: error.$metadata?.httpStatusCode ?? null };
  }
}

async function readShard(shardId) {
  const { ShardIterator } = await client.send(
    new GetShardIteratorCommand({ StreamName: stream, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
  );
  const page = await client.send(new GetRecordsCommand({ ShardIterator, Limit: 10000 }));
  return page.Records.map((r) => text(r.Data));
}

async function subscribe(consumerARN, shardId, expected, afterFirst) {
  const seen = [];
  // Leaving the loop does not end the HTTP/2 stream; aborting does (a RST_STREAM).
  const abort = new AbortController();
  const { EventStream } = await client.send(
    new SubscribeToShardCommand({ ConsumerARN: consumerARN, ShardId: shardId, StartingPosition: { Type: 'TRIM_HORIZON' } }),
    { abortSignal: abort.signal },
  );
  let pushed = false;
  for await (const event of EventStream) {
    const records = event.SubscribeToShardEvent?.Records ?? [];
    seen.push(...records.map((r) => text(r.Data)));
    if (!pushed && seen.length >= expected - afterFirst.count) {
      pushed = true;
      await afterFirst.put();
    }
    if (seen.length >= expected || Date.now() > deadline) break;
  }
  abort.abort();
  return seen;
}

const result = {};
await client.send(new CreateStreamCommand({ StreamName: stream, ShardCount: 2 }));
const summary = await untilActive(stream);
result.status = summary.StreamStatus;

const entries = Array.from({ length: 100 }, (_, i) => ({ Data: Buffer.from(`batch-${i}`), PartitionKey: `key-${i}` }));
const put = await client.send(new PutRecordsCommand({ StreamName: stream, Records: entries }));
result.failedPutCount = put.FailedRecordCount;
// Read by the SDK from x-amzn-RequestId and x-amz-id-2 (HTTP/2 headers are lower-case).
result.ids = { requestId: put.$metadata.requestId, extendedRequestId: put.$metadata.extendedRequestId };
result.encryptionType = put.EncryptionType ?? null;
await client.send(new PutRecordCommand({ StreamName: stream, Data: Buffer.from('single'), PartitionKey: 'one' }));

const { Shards } = await client.send(new ListShardsCommand({ StreamName: stream }));
result.polled = {};
for (const shard of Shards) result.polled[shard.ShardId] = await readShard(shard.ShardId);

// A GetRecords answer far larger than one HTTP/2 flow-control window.
const large = `${stream}-large`;
await client.send(new CreateStreamCommand({ StreamName: large, ShardCount: 1 }));
await untilActive(large);
const blob = (i) => Buffer.alloc(100_000, 97 + (i % 26));
for (let call = 0; call < 3; call++) {
  const batch = Array.from({ length: 8 }, (_, i) => ({ Data: blob(call * 8 + i), PartitionKey: 'large' }));
  await client.send(new PutRecordsCommand({ StreamName: large, Records: batch }));
}
const largeShard = (await client.send(new ListShardsCommand({ StreamName: large }))).Shards[0].ShardId;
const { ShardIterator } = await client.send(
  new GetShardIteratorCommand({ StreamName: large, ShardId: largeShard, ShardIteratorType: 'TRIM_HORIZON' }),
);
const largePage = await client.send(new GetRecordsCommand({ ShardIterator, Limit: 10000 }));
result.large = largePage.Records.map((r) => [r.Data.length, r.Data[0]]);

const settings = await client.send(new DescribeAccountSettingsCommand({}));
result.commitment = settings.MinimumThroughputBillingCommitment.Status;
result.missingStream = await errorOf(new DescribeStreamSummaryCommand({ StreamName: 'no-such-stream' }));
result.badInput = await errorOf(new PutRecordCommand({ StreamName: stream, Data: Buffer.from('x'), PartitionKey: '' }));

const { Consumer } = await client.send(
  new RegisterStreamConsumerCommand({ StreamARN: summary.StreamARN, ConsumerName: 'js' }),
);
while (Date.now() < deadline) {
  const described = await client.send(new DescribeStreamConsumerCommand({ ConsumerARN: Consumer.ConsumerARN }));
  if (described.ConsumerDescription.ConsumerStatus === 'ACTIVE') break;
  await sleep(100);
}
// Shard 0 over SubscribeToShard: what was stored, then records put while subscribed.
const first = Shards[0].ShardId;
const live = Array.from({ length: 5 }, (_, i) => ({ Data: Buffer.from(`live-${i}`), PartitionKey: 'live', ExplicitHashKey: '0' }));
result.subscribed = await subscribe(Consumer.ConsumerARN, first, result.polled[first].length + live.length, {
  count: live.length,
  put: () => client.send(new PutRecordsCommand({ StreamName: stream, Records: live })),
});
result.firstShard = first;
client.destroy();
console.log(JSON.stringify(result));
