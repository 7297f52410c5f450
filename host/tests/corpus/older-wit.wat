(component (import "tg:plan/runenv@0.0.1" (instance (export "seed" (func (result u64))))))
