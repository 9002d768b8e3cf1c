#!/usr/bin/env node
// nodemailer contender of the benchmark (tests/bench/run.sh installs nodemailer first):
//
//   node bench.js --port P --mode plain|starttls|implicit-tls --ca CA.pem
//                 [--messages N] [--size BYTES] [--max-connections 5]
//
// One pooled transport (pool: true, maxConnections 5, the other pool settings at their
// defaults: a connection is replaced after 100 messages) and every message handed to
// sendMail() at once, as a Node program with a burst of mail does; nodemailer queues them in
// memory and spreads them over the pool. The clock runs from createTransport() to the last
// accepted message. Prints "RESULT contender=nodemailer mode=... messages=N seconds=S rate=R"
// and exits 1 if any message was not accepted.
'use strict';

const fs = require('fs');
const nodemailer = require('nodemailer');

const SENDER = 'bench-sender@example.test';
const RECIPIENT = 'bench@example.test';

function parseArgs(argv) {
    const args = { messages: 1000, size: 2048, maxConnections: 5 };
    for (let i = 2; i < argv.length; i += 2) {
        const value = argv[i + 1];
        switch (argv[i]) {
            case '--port': args.port = Number(value); break;
            case '--mode': args.mode = value; break;
            case '--ca': args.ca = value; break;
            case '--messages': args.messages = Number(value); break;
            case '--size': args.size = Number(value); break;
            case '--max-connections': args.maxConnections = Number(value); break;
            default:
                console.error(`bench.js: unknown argument ${argv[i]}`);
                process.exit(2);
        }
    }
    if (!args.port || !['plain', 'starttls', 'implicit-tls'].includes(args.mode) || !args.ca) {
        console.error('usage: bench.js --port P --mode plain|starttls|implicit-tls --ca CA.pem');
        process.exit(2);
    }
    return args;
}

// the same text as bench-daemon's body: lines of 64 octets up to size bytes
function makeBody(size) {
    let body = '';
    for (let i = 0; body.length < size; i++) {
        const n = String(i).padStart(3, '0');
        const line = `line ${n}: the quick brown fox jumps over the lazy dog`;
        body += line.padEnd(63).slice(0, 63) + '\n';
    }
    return body;
}

async function main() {
    const args = parseArgs(process.argv);
    const body = makeBody(args.size);
    const start = process.hrtime.bigint();
    const transport = nodemailer.createTransport({
        host: '127.0.0.1',
        port: args.port,
        secure: args.mode === 'implicit-tls',
        ignoreTLS: args.mode === 'plain',
        requireTLS: args.mode === 'starttls',
        tls: { ca: [fs.readFileSync(args.ca)] },
        name: 'bench.example.test',
        pool: true,
        maxConnections: args.maxConnections,
    });
    const jobs = [];
    for (let n = 1; n <= args.messages; n++) {
        jobs.push(transport.sendMail({
            from: `Bench <${SENDER}>`,
            to: RECIPIENT,
            subject: `benchmark message ${n}`,
            text: body,
        }));
    }
    const results = await Promise.allSettled(jobs);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    transport.close();
    const failed = results.filter((r) => r.status !== 'fulfilled' || r.value.accepted.length !== 1);
    if (failed.length > 0) {
        const first = failed[0];
        console.error(`bench.js: ${failed.length} of ${args.messages} messages failed, first: ` +
            (first.status === 'rejected' ? first.reason : JSON.stringify(first.value)));
        process.exit(1);
    }
    console.log(`RESULT contender=nodemailer mode=${args.mode} messages=${args.messages} ` +
        `seconds=${seconds.toFixed(3)} rate=${(args.messages / seconds).toFixed(1)}`);
}

main().catch((e) => {
    console.error(`bench.js: ${e.stack || e}`);
    process.exit(1);
});
