/** Reads a server-sent event stream (a fetch Response) event by event, for the dashboard tests. */

/** One event, or a comment line (keep-alive). */
export interface SseEvent {
  event: string;
  data: string;
  comment?: string;
}

/** A reader over a Response body; cancel() ends the stream (and the server's subscription). */
export class SseReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buffer = "";
  #decoder = new TextDecoder();
  #queue: SseEvent[] = [];
  #done = false;

  constructor(response: Response) {
    if (!response.body) throw new Error("the response has no body");
    this.#reader = response.body.getReader();
  }

  /** True once the server ended the stream. */
  get done(): boolean {
    return this.#done && this.#queue.length === 0;
  }

  #parse(): void {
    let end: number;
    while ((end = this.#buffer.indexOf("\n\n")) !== -1) {
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      const ev: SseEvent = { event: "message", data: "" };
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) ev.comment = line.slice(1).trim();
        else if (line.startsWith("event: ")) ev.event = line.slice(7);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
        else if (line.startsWith("retry: ")) ev.event = "retry";
      }
      ev.data = data.join("\n");
      this.#queue.push(ev);
    }
  }

  /** The next event (or comment); null when the stream ended. Throws after `timeoutMs`. */
  async next(timeoutMs = 10_000): Promise<SseEvent | null> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no event within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      for (;;) {
        const ev = this.#queue.shift();
        if (ev) return ev;
        if (this.#done) return null;
        const { value, done } = await Promise.race([this.#reader.read(), timeout]);
        if (done) this.#done = true;
        else this.#buffer += this.#decoder.decode(value, { stream: true });
        this.#parse();
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** The next event named `name` whose data passes `accept`, skipping others. */
  async nextOf(
    name: string,
    accept: (data: string) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${name} event as expected within ${timeoutMs} ms`);
      const ev = await this.next(left);
      if (ev === null) throw new Error(`the stream ended before a ${name} event`);
      if (ev.event === name && accept(ev.data)) return ev.data;
    }
  }

  /** Ends the stream from this side. */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}
