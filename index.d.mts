export * from './native.js'

/** Which implementation is active: the native addon, or the pure-JS fallback. */
export declare const implementation: 'native' | 'js'
/** Why the pure-JS fallback is active (the loader's first error), or null. */
export declare const fallbackReason: string | null
