import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LoadClient } from './loadClient.ts';

let server: Server;
afterEach(() => new Promise((r) => server.close(r)));

/** A server that answers each request (read up to its blank line and body) with what `answer` writes. */
async function serve(answer: (socket: Socket, request: string) => void): Promise<number> {
  server = createServer((socket) => {
    let data = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      data = Buffer.concat([data, d]);
      for (;;) {
        const end = data.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/content-length: (\d+)/i.exec(data.subarray(0, end).toString())?.[1] ?? 0);
        if (data.length < end + 4 + length) return;
        answer(socket, data.subarray(0, end + 4 + length).toString());
        data = data.subarray(end + 4 + length);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

describe('the load generator client', () => {
  it('sends the request as written and reads answers split in pieces, on kept-alive sockets, queueing beyond its sockets', async () => {
    const seen: string[] = [];
    const sockets = new Set<Socket>();
    const port = await serve((socket, request) => {
      seen.push(request);
      sockets.add(socket);
      const body = JSON.stringify({ n: seen.length, echo: request.split('\r\n\r\n')[1] });
      const answer = `HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
      // In three writes, the blank line split across two of them.
      const cut = answer.indexOf('\r\n\r\n') + 2;
      socket.write(answer.slice(0, cut));
      setTimeout(() => socket.write(answer.slice(cut, cut + 3)), 5);
      setTimeout(() => socket.write(answer.slice(cut + 3)), 10);
    });
    const client = new LoadClient(port, 2);
    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => client.request('POST', '/v1/usage/events', 'tok', JSON.stringify({ id: `é${i}` }))));
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201, 201]);
    expect(answers.map((a) => JSON.parse(a.body).echo).sort()).toEqual([0, 1, 2, 3, 4].map((i) => JSON.stringify({ id: `é${i}` })));
    expect(sockets.size).toBe(2);
    expect(seen[0]).toMatch(/^POST \/v1\/usage\/events HTTP\/1\.1\r\nhost: 127\.0\.0\.1\r\nauthorization: Bearer tok\r\ncontent-type: application\/json\r\ncontent-length: 12\r\n\r\n/);
    client.close();
  });

  it('refuses an answer it cannot measure (no Content-Length) and one cut off by the server', async () => {
    const port = await serve((socket, request) => {
      if (request.startsWith('GET /chunked')) socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n');
      else socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{"a"');
    });
    const client = new LoadClient(port);
    await expect(client.request('GET', '/chunked', 'tok')).rejects.toThrow(/without Content-Length/);
    await expect(client.request('GET', '/cut', 'tok')).rejects.toThrow(/closed the connection/);
    client.close();
  });
});
