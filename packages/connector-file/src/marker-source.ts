import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TEMP_PREFIX } from './file-key.js';
import { errnoOf } from './io-error.js';

type Done = (error: NodeJS.ErrnoException | null) => void;

/** The empty file markers are linked to; shared by every process using the directory. */
export const MARKER_SOURCE = `${TEMP_PREFIX}ready`;

/**
 * Creates `<uuid>.ready` markers as hard links to one shared empty file instead of new files. A
 * marker is still an empty regular file (all Python ProxyStore checks is that it exists), but a
 * link allocates no inode, which on ext4 is the costliest step of a small put. File systems
 * without hard links fall back to creating each marker as a file.
 */
export class MarkerSource {
  readonly source: string;
  private linksUnsupported = false;

  constructor(private readonly dir: string) {
    this.source = path.join(dir, MARKER_SOURCE);
  }

  /** After a failed link: 'retry' (source repaired), 'create' (fall back to a file) or 'done'. */
  private recover(error: NodeJS.ErrnoException): 'retry' | 'create' | 'done' {
    try {
      switch (errnoOf(error)) {
        case 'EEXIST':
          return 'done'; // set() over an existing object: its marker is already there.
        case 'ENOENT':
          // First marker in this directory, or another process's close removed the source.
          fs.closeSync(fs.openSync(this.source, 'a'));
          return 'retry';
        case 'EMLINK': {
          // The source reached the file system's link limit: swap in a fresh one; existing
          // markers keep the old inode.
          const fresh = path.join(this.dir, `${MARKER_SOURCE}.${randomBytes(6).toString('hex')}`);
          fs.closeSync(fs.openSync(fresh, 'w'));
          fs.renameSync(fresh, this.source);
          return 'retry';
        }
        default:
          this.linksUnsupported = true;
          return 'create';
      }
    } catch {
      return 'create';
    }
  }

  createSync(marker: string): void {
    if (!this.linksUnsupported) {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          fs.linkSync(this.source, marker);
          return;
        } catch (error) {
          const next = this.recover(error as NodeJS.ErrnoException);
          if (next === 'done') return;
          if (next === 'create') break;
        }
      }
    }
    fs.closeSync(fs.openSync(marker, 'w'));
  }

  create(marker: string, done: Done, attempt = 0): void {
    if (this.linksUnsupported || attempt >= 3) {
      fs.open(marker, 'w', (error, fd) => (error ? done(error) : fs.close(fd, done)));
      return;
    }
    fs.link(this.source, marker, (error) => {
      if (!error) return done(null);
      const next = this.recover(error);
      if (next === 'done') return done(null);
      this.create(marker, done, next === 'retry' ? attempt + 1 : 3);
    });
  }

  /** Removes the shared source (markers linked to it stay); the next marker recreates it. */
  remove(): Promise<void> {
    return new Promise((resolve) => fs.unlink(this.source, () => resolve()));
  }
}
