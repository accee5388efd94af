/**
 * Splits a byte stream into frames of a 4-byte big-endian length followed by that many bytes.
 *
 * A frame that lies inside one received buffer is passed on as a view of it. A frame spread over
 * several buffers is copied once into a fresh allocation, which starts 8-byte aligned, so that an
 * encoder padding for offset 0 gets an aligned payload.
 */
export class FrameReader {
  private readonly lengthBytes = Buffer.alloc(4);
  private lengthFill = 0;
  private frame: Buffer | null = null;
  private frameFill = 0;
  private failed = false;

  /**
   * @param maxFrameBytes - largest accepted frame; a longer one stops the reader with `onError`
   * @param onFrame - receives each complete frame, in order
   * @param onError - receives the reason the stream is invalid; no frame follows it
   */
  constructor(
    private readonly maxFrameBytes: number,
    private readonly onFrame: (frame: Buffer) => void,
    private readonly onError: (message: string) => void,
  ) {}

  push(data: Buffer): void {
    let position = 0;
    while (position < data.length && !this.failed) {
      if (this.frame === null) {
        // Length prefix, possibly split across buffers.
        let length: number;
        if (this.lengthFill === 0 && data.length - position >= 4) {
          length = data.readUInt32BE(position);
          position += 4;
        } else {
          const take = Math.min(4 - this.lengthFill, data.length - position);
          data.copy(this.lengthBytes, this.lengthFill, position, position + take);
          this.lengthFill += take;
          position += take;
          if (this.lengthFill < 4) return;
          this.lengthFill = 0;
          length = this.lengthBytes.readUInt32BE(0);
        }
        if (length > this.maxFrameBytes) {
          this.failed = true;
          this.onError(`received a frame of ${length} bytes, more than the limit of ${this.maxFrameBytes}`);
          return;
        }
        if (data.length - position >= length) {
          this.onFrame(data.subarray(position, position + length));
          position += length;
          continue;
        }
        this.frame = Buffer.allocUnsafeSlow(length);
        this.frameFill = 0;
      }

      // Body of a frame spread over several buffers.
      const take = Math.min(this.frame.length - this.frameFill, data.length - position);
      data.copy(this.frame, this.frameFill, position, position + take);
      this.frameFill += take;
      position += take;
      if (this.frameFill === this.frame.length) {
        const frame = this.frame;
        this.frame = null;
        this.onFrame(frame);
      }
    }
  }
}

/** Returns `body` behind its 4-byte big-endian length. */
export function frameBytes(body: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  frame.set(body, 4);
  return frame;
}
