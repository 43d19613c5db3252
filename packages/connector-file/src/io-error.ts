import { ConnectorError } from '@proxy/core';

const REASONS: Record<string, string> = {
  EACCES: 'permission denied (is it writable/readable by this user?)',
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a parent of the path is not a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EISDIR: 'is a directory',
  EMFILE: 'too many open files in this process',
  ENFILE: 'too many open files in the system',
  EIO: 'I/O error',
};

/** Wraps a file-system error as a `ConnectorError` naming the action and the path. */
export function ioError(
  action: string,
  target: string,
  error: unknown,
  hint?: string,
): ConnectorError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason = code
    ? `${REASONS[code] ?? (error as Error).message} (${code})`
    : String((error as Error)?.message ?? error);
  return new ConnectorError(
    `FileConnector: cannot ${action} ${target}: ${reason}${hint ? `. ${hint}` : ''}`,
    {
      cause: error,
    },
  );
}

export function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}
