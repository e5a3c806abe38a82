// Capture and injection of the bridge's frames, as the router's sleeve path sees them. The daemon
// picks the implementation (a TAP on the bridge: tap-capture.ts) and hands the router an opener.

/** Called for each captured frame; the view is reused after the call returns. */
export type FrameHandler = (buf: Buffer, off: number, len: number) => void;

export interface CaptureStats {
  captured: number;
  injected: number;
  /** Frames not injected because the device's queue was full (EAGAIN) or the write failed. */
  injectDropped: number;
}

export interface FrameCapture {
  /** Name of the bridge port that captures (the fast path keeps it out of its own flooding). */
  readonly name: string;
  readonly mtu: number;
  readonly stats: CaptureStats;
  readonly closed: boolean;
  /** Queues a frame for the bridge, as if it came from the wire; the view may be reused. */
  inject(buf: Buffer, off: number, len: number): void;
  /** Writes the queued frames now. */
  flush(): void;
  close(): void;
}

/** Creates the capture on the bridge and starts delivering its frames to `onFrame`. */
export type CaptureOpener = (onFrame: FrameHandler) => Promise<FrameCapture>;
