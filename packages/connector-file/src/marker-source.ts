import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TEMP_PREFIX } from './file-key.js';
import { errnoOf } from './io-error.js';

type Done = (error: NodeJS.ErrnoException | null) => void;

/**
 * Creates `<uuid>.ready` markers as hard links to one empty file per connector instead of new
 * files. A marker is still an empty regular file (what Python ProxyStore checks), but a link
 * costs no inode allocation, which on ext4 is the most expensive step of a small put. File
 * systems without hard links (or a source at its link limit) fall back to creating the file.
 */
export class MarkerSource {
  private source: string;
  private linksUnsupported = false;

  constructor(private readonly dir: string) {
    this.source = this.newSourceName();
  }

  private newSourceName(): string {
    // The temp prefix keeps it from ever reading as data; `clear: 'all'` removes strays.
    return path.join(this.dir, `${TEMP_PREFIX}ready-${randomBytes(6).toString('hex')}`);
  }

  /** What to do after a failed link: 'retry' (source recreated), 'create' (fall back) or 'done'. */
  private recover(error: NodeJS.ErrnoException): 'retry' | 'create' | 'done' {
    switch (errnoOf(error)) {
      case 'EEXIST':
        return 'done'; // set() over an existing object: the marker is already there.
      case 'ENOENT':
      case 'EMLINK':
        // Source not created yet, removed by another process's clear, or at its link limit.
        if (errnoOf(error) === 'EMLINK') this.source = this.newSourceName();
        try {
          fs.closeSync(fs.openSync(this.source, 'a'));
          return 'retry';
        } catch {
          return 'create';
        }
      default:
        this.linksUnsupported = true;
        return 'create';
    }
  }

  createSync(marker: string): void {
    if (!this.linksUnsupported) {
      for (let attempt = 0; attempt < 2; attempt++) {
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
    const createFile = () =>
      fs.open(marker, 'w', (error, fd) => (error ? done(error) : fs.close(fd, done)));
    if (this.linksUnsupported || attempt >= 2) {
      createFile();
      return;
    }
    fs.link(this.source, marker, (error) => {
      if (!error) return done(null);
      const next = this.recover(error);
      if (next === 'done') return done(null);
      if (next === 'retry') return this.create(marker, done, attempt + 1);
      createFile();
    });
  }

  /** Removes the link source (markers linked to it stay); the next marker recreates it. */
  dispose(): Promise<void> {
    return new Promise((resolve) => fs.unlink(this.source, () => resolve()));
  }
}
