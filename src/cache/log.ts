export type CacheLogLevel = "debug" | "info" | "warn" | "error";
export type CacheLog = (level: CacheLogLevel, msg: string) => void;
