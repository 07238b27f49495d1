import { connect, type Socket } from 'node:net';

export interface Response {
  status: number;
  body: string;
}

interface Exchange {
  resolve: (response: Response) => void;
  reject: (error: Error) => void;
}

interface Connection {
  socket: Socket;
  pending: Buffer | null;
  exchange: Exchange | null;
}

/**
 * The load generator's HTTP/1.1 client, as wrk's: keep-alive sockets, request text written by hand, a response
 * read by its Content-Length. Node's http client (parser, agent, several objects per request) cost this process
 * about twice the CPU and allocation, and its pauses counted as the platform's latency: a latency figure measures
 * the platform, so the generator stays out of the way. Bodies of the platform's answers are JSON with a length;
 * anything else (chunked) is refused rather than misread.
 */
export class LoadClient {
  private readonly idle: Connection[] = [];
  private readonly waiting: { text: string; exchange: Exchange }[] = [];
  private open = 0;
  private readonly port: number;
  private readonly maxSockets: number;

  constructor(port: number, maxSockets = 64) {
    this.port = port;
    this.maxSockets = maxSockets;
  }

  request(method: string, path: string, token: string, body?: string): Promise<Response> {
    let text = `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${token}\r\n`;
    if (body !== undefined) text += `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`;
    text += `\r\n${body ?? ''}`;
    return new Promise((resolve, reject) => {
      const exchange = { resolve, reject };
      const connection = this.idle.pop() ?? (this.open < this.maxSockets ? this.connect() : null);
      if (connection) this.send(connection, text, exchange);
      else this.waiting.push({ text, exchange }); // every socket busy: the wait counts in the latency
    });
  }

  close(): void {
    for (const c of this.idle.splice(0)) c.socket.destroy();
  }

  private send(connection: Connection, text: string, exchange: Exchange): void {
    connection.exchange = exchange;
    connection.socket.write(text);
  }

  private connect(): Connection {
    this.open += 1;
    const socket = connect({ host: '127.0.0.1', port: this.port, noDelay: true });
    const connection: Connection = { socket, pending: null, exchange: null };
    const fail = (error: Error) => {
      const exchange = connection.exchange;
      connection.exchange = null;
      exchange?.reject(error);
    };
    socket.on('data', (chunk: Buffer) => this.receive(connection, chunk));
    socket.on('error', fail);
    socket.on('close', () => {
      this.open -= 1;
      const at = this.idle.indexOf(connection);
      if (at >= 0) this.idle.splice(at, 1);
      fail(new Error('the platform closed the connection'));
    });
    return connection;
  }

  private receive(connection: Connection, chunk: Buffer): void {
    const data = connection.pending ? Buffer.concat([connection.pending, chunk]) : chunk;
    const headEnd = data.indexOf('\r\n\r\n');
    if (headEnd < 0) return void (connection.pending = data);
    const head = data.subarray(0, headEnd).toString('latin1');
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (!length) {
      connection.socket.destroy(new Error(`an answer without Content-Length: ${head.split('\r\n', 1)[0]}`));
      return;
    }
    const end = headEnd + 4 + Number(length[1]);
    if (data.length < end) return void (connection.pending = data);
    connection.pending = data.length > end ? data.subarray(end) : null;
    const exchange = connection.exchange!;
    connection.exchange = null;
    exchange.resolve({ status: Number(head.slice(9, 12)), body: data.subarray(headEnd + 4, end).toString() });
    if (/\r\nconnection: *close/i.test(head)) return void connection.socket.end();
    const next = this.waiting.shift();
    if (next) this.send(connection, next.text, next.exchange);
    else this.idle.push(connection);
  }
}
