# frozen_string_literal: true

require_relative "spec_helper"
require "logger"
require "open3"
require "pathname"
require "rbconfig"
require "rbs"
require "rbs/test"

# The signatures in sig/, loaded once with the RBS library, and the checks
# that hold them against what the compiled extension defines.
module SignatureSpecSupport
  # RBS 3 logs each argument that matches no overload; the examples that
  # pass bad arguments on purpose read those errors themselves.
  RBS.logger_level = Logger::ERROR

  SIG_DIR = File.expand_path("../sig", __dir__)

  LIB_DIR = File.expand_path("../lib", __dir__)
  LIST_CONSTANTS = <<~RUBY
    require "daemon_controller"
    require "daemon_controller/version"
    walk = lambda do |mod|
      nested = mod.constants(false).sort.flat_map do |name|
        value = mod.const_get(name, false)
        full = "\#{mod.name}::\#{name}"
        value.is_a?(Module) && value.name == full ? walk.call(value) : [full]
      end
      [mod.name, *nested]
    end
    puts walk.call(DaemonController)
  RUBY

  # Class methods that Ruby gives every Struct class of its own.
  STRUCT_CLASS_METHODS = Struct.new(:member).singleton_methods(false).freeze

  class << self
    def environment
      @environment ||= begin
        loader = RBS::EnvironmentLoader.new
        loader.add(path: Pathname(SIG_DIR))
        RBS::Environment.from_loader(loader).resolve_type_names
      end
    end

    def builder
      @builder ||= RBS::DefinitionBuilder.new(env: environment)
    end

    # "DaemonController::LockFile" => ::DaemonController::LockFile
    def type_name(constant_path)
      *outer, name = constant_path.split("::").map(&:to_sym)
      RBS::TypeName.new(name: name, namespace: RBS::Namespace.new(path: outer, absolute: true))
    end

    # Every constant under DaemonController, by full name, DaemonController
    # itself included, as `require "daemon_controller"` and
    # `require "daemon_controller/version"` define them: listed
    # by a fresh Ruby, so that what other spec files load (the command-line
    # interface, say) does not count.
    def ruby_constants
      @ruby_constants ||= begin
        output, status = Open3.capture2e(RbConfig.ruby, "-I", LIB_DIR, "-e", LIST_CONSTANTS)
        raise "cannot list the library's constants:\n#{output}" unless status.success?

        output.split("\n")
      end
    end

    # Every class, constant and exception under DaemonController that the
    # signatures declare, by full name.
    def declared_constants
      names = environment.class_decls.keys + environment.constant_decls.keys
      names.map { |name| name.to_s.delete_prefix("::") }
           .select { |name| name == "DaemonController" || name.start_with?("DaemonController::") }
    end

    def ruby_classes
      ruby_constants.map { |name| Object.const_get(name) }.grep(Module)
    end

    # The methods the signatures declare in the class itself (not inherited
    # ones), with the given visibility.
    def declared_methods(definition, type_name, accessibility)
      definition.methods.select do |_, method|
        method.implemented_in == type_name && method.accessibility == accessibility
      end.keys
    end

    # Public and private instance methods and class methods of a class, as
    # Ruby has them and as the signatures declare them. `initialize` and
    # `new` are left out: they always exist, whatever the class defines.
    def method_sets(klass, name)
      instance = builder.build_instance(name)
      singleton = builder.build_singleton(name)
      class_methods = klass.singleton_methods(false)
      class_methods -= STRUCT_CLASS_METHODS if klass < Struct
      {
        "public instance methods" => [klass.public_instance_methods(false),
                                      declared_methods(instance, name, :public)],
        "private instance methods" => [klass.private_instance_methods(false) - [:initialize],
                                       declared_methods(instance, name, :private) - [:initialize]],
        "protected instance methods" => [klass.protected_instance_methods(false), []],
        "class methods" => [class_methods, declared_methods(singleton, name, :public) - [:new]]
      }
    end

    # Differences between Ruby and the signatures, as readable lines; the
    # class is compared with the declaration named `name`.
    def method_drift(klass, name = type_name(klass.name))
      method_sets(klass, name).flat_map do |kind, (actual, declared)|
        undeclared = (actual - declared).sort.map { |m| "#{klass}: #{kind} not in sig/: #{m}" }
        absent = (declared - actual).sort.map { |m| "#{klass}: #{kind} declared but not defined: #{m}" }
        undeclared + absent
      end
    end

    # Methods with a fixed arity (the extension's, the Struct accessors)
    # whose declared overloads take another number of arguments.
    def arity_drift(klass)
      definition = builder.build_instance(type_name(klass.name))
      own = klass.public_instance_methods(false) + klass.private_instance_methods(false)
      own.filter_map do |method_name|
        arity = klass.instance_method(method_name).arity
        declared = definition.methods[method_name]
        next if arity.negative? || declared.nil?

        wrong = declared.method_types.reject { |method_type| takes_exactly?(method_type.type, arity) }
        next if wrong.empty?

        "#{klass}##{method_name}: takes #{arity} argument(s), declared #{wrong.join(" | ")}"
      end
    end

    def takes_exactly?(function, arity)
      function.required_positionals.size == arity && function.optional_positionals.empty? &&
        function.rest_positionals.nil? && function.trailing_positionals.empty? &&
        function.required_keywords.empty?
    end

    # The keyword form of DaemonController#initialize, as declared.
    def keyword_initializer
      builder.build_instance(type_name("DaemonController")).methods[:initialize]
             .method_types.map(&:type).find(&:has_keyword?)
    end

    def declared_keywords
      function = keyword_initializer
      function.required_keywords.keys + function.optional_keywords.keys
    end

    def type_checker(klass)
      RBS::Test::TypeCheck.new(self_class: klass, builder: builder, sample_size: 100,
                               unchecked_classes: [], instance_class: klass,
                               class_class: klass.singleton_class)
    end

    # The type errors of one call (arguments, return value, block calls)
    # against the declared overloads, as RBS::Test reports them at run time.
    def call_errors(klass, method_name, arguments, value, singleton: false, block_calls: [],
                    block_given: false)
      name = type_name(klass.name)
      definition = singleton ? builder.build_singleton(name) : builder.build_instance(name)
      method = definition.methods.fetch(method_name)
      trace = RBS::Test::CallTrace.new(
        method_name: method_name,
        method_call: RBS::Test::ArgumentsReturn.return(arguments: arguments, value: value),
        block_calls: block_calls,
        block_given: block_given
      )
      type_checker(klass).overloaded_call(method, method_name, trace, errors: [])
                         .map { |error| RBS::Test::Errors.to_string(error) }
    end

    # Ruby 3.1 bundles RBS 2 and Ruby 3.3 RBS 3, which renamed the resolver
    # and the alias table and nests resolution contexts the other way round.
    def rbs3?
      defined?(RBS::Resolver::TypeNameResolver)
    end

    # Resolves type names in a context.
    def resolver
      @resolver ||=
        rbs3? ? RBS::Resolver::TypeNameResolver.new(environment) : RBS::TypeNameResolver.from_env(environment)
    end

    # The context of names written at the top level of sig/.
    def top_level
      rbs3? ? nil : [RBS::Namespace.root]
    end

    # The context of names written inside `class DaemonController`.
    def inside_daemon_controller
      rbs3? ? [nil, type_name("DaemonController")] : [RBS::Namespace.parse("::DaemonController"), RBS::Namespace.root]
    end

    def type_alias_decls
      rbs3? ? environment.type_alias_decls : environment.alias_decls
    end

    # Whether a value is of a type written in RBS, its names resolved inside
    # DaemonController.
    def value_matches?(value, type_source)
      type = RBS::Parser.parse_type(type_source)
      resolved = type.map_type_name { |name| resolver.resolve(name, context: inside_daemon_controller) || name }
      type_checker(DaemonController).value(value, resolved)
    end
  end
end

RSpec.describe "The RBS signatures in sig/" do
  let(:sigs) { SignatureSpecSupport }

  # Calls the real method (with the block, if any) and fails the example
  # when the arguments, the block's calls or the return value do not match
  # the declared types. Returns what the method returned. With
  # `block_arguments: false`, what the block is given goes unchecked.
  def checked_call(receiver, method_name, *args, block_arguments: true, **keywords, &block)
    singleton = receiver.is_a?(Class)
    klass = singleton ? receiver : receiver.class
    block_calls = []
    recording = block && proc do |*given|
      result = block.call(*given)
      block_calls << RBS::Test::ArgumentsReturn.return(arguments: block_arguments ? given : [], value: result)
      result
    end
    value = receiver.__send__(method_name, *args, **keywords, &recording)
    arguments = keywords.empty? ? args : [*args, keywords]
    errors = sigs.call_errors(klass, method_name, arguments, value,
                              singleton: singleton, block_calls: block_calls, block_given: !block.nil?)
    expect(errors).to be_empty, "#{klass}#{singleton ? "." : "#"}#{method_name}:\n  #{errors.join("\n  ")}"
    value
  end

  describe "the declarations" do
    it "parse, and every type they name exists (as `rbs validate` checks)" do
      validator = RBS::Validator.new(env: sigs.environment, resolver: sigs.resolver)
      ours = ->(name) { name.to_s.start_with?("::DaemonController") }
      sigs.environment.class_decls.each_key.select(&ours).each do |name|
        sigs.builder.build_instance(name).each_type { |t| validator.validate_type(t, context: sigs.top_level) }
        sigs.builder.build_singleton(name).each_type { |t| validator.validate_type(t, context: sigs.top_level) }
      end
      sigs.environment.interface_decls.each_key.select(&ours).each do |name|
        sigs.builder.build_interface(name).each_type { |t| validator.validate_type(t, context: sigs.top_level) }
      end
      sigs.environment.constant_decls.select { |name, _| ours.call(name) }.each_value do |entry|
        validator.validate_type(entry.decl.type, context: entry.context)
      end
      sigs.type_alias_decls.select { |name, _| ours.call(name) }.each do |name, entry|
        validator.validate_type(sigs.builder.expand_alias1(name), context: sigs.top_level)
        validator.validate_type_alias(entry: entry)
      end
    end
  end

  describe "constants" do
    it "declares every class, exception and constant under DaemonController, and nothing else" do
      actual = sigs.ruby_constants
      declared = sigs.declared_constants
      expect(actual - declared).to be_empty, "defined but not in sig/: #{(actual - declared).sort}"
      expect(declared - actual).to be_empty, "in sig/ but not defined: #{(declared - actual).sort}"
    end

    it "declares classes as classes and other constants as constants" do
      sigs.ruby_constants.each do |name|
        value = Object.const_get(name)
        type_name = sigs.type_name(name)
        if value.is_a?(Module)
          expect(value).to be_a(Class), "#{name} is a module"
          expect(sigs.environment.class_decls[type_name]).to be_a(RBS::Environment::ClassEntry),
                                                             "#{name} is not declared as a class"
        else
          expect(sigs.environment.constant_decls).to have_key(type_name), "#{name} is not declared as a constant"
        end
      end
    end

    it "declares each class with the superclass it has" do
      sigs.ruby_classes.each do |klass|
        super_class = sigs.environment.class_decls[sigs.type_name(klass.name)].primary.decl.super_class
        declared = super_class ? super_class.name.to_s.delete_prefix("::") : "Object"
        expect(declared).to eq(klass.superclass.name), "#{klass} < #{klass.superclass}, declared < #{declared}"
      end
    end

    it "holds values of the declared types" do
      sigs.environment.constant_decls.each do |name, entry|
        # Declarations of constants that do not exist fail the examples above.
        next unless name.to_s.start_with?("::DaemonController::") && Object.const_defined?(name.to_s)

        value = Object.const_get(name.to_s)
        matches = sigs.type_checker(DaemonController).value(value, entry.decl.type)
        expect(matches).to be(true), "#{name} = #{value.inspect} is not a #{entry.decl.type}"
      end
    end
  end

  describe "methods" do
    SignatureSpecSupport.ruby_classes.each do |klass|
      it "declares exactly the methods #{klass} defines" do
        expect(sigs.method_drift(klass)).to eq([])
      end

      it "declares #{klass}'s fixed-arity methods with that many arguments" do
        expect(sigs.arity_drift(klass)).to eq([])
      end
    end

    it "declares the constructor wherever a class defines its own" do
      sigs.ruby_classes.each do |klass|
        next unless klass.private_instance_methods(false).include?(:initialize)

        declared = sigs.builder.build_instance(sigs.type_name(klass.name)).methods[:initialize]
        expect(declared&.implemented_in).to eq(sigs.type_name(klass.name)), "#{klass}#initialize is not declared"
      end
    end

    it "notices a method that is defined but not declared, and one declared but not defined" do
      drifted = Class.new(DaemonController) do
        def extra_public_method; end
      end
      expect(sigs.method_drift(drifted, sigs.type_name("DaemonController"))).to include(
        "#{drifted}: public instance methods not in sig/: extra_public_method",
        "#{drifted}: public instance methods declared but not defined: start",
        "#{drifted}: class methods declared but not defined: can_ping_unix_sockets?"
      )
    end
  end

  describe "the types, checked at run time" do
    def ping; end

    def start_command_text
      "true"
    end

    let(:mandatory) do
      { identifier: "sig check", start_command: "true", ping_command: "true",
        pid_file: pid_file, log_file: log_file }
    end

    # A value of each kind of DaemonController::OPTIONS, for the options
    # that every_option does not name.
    let(:value_of_kind) do
      { name: "sig check", command: "true", ping: "true", path: File.join(tmpdir, "sample"), string: "text",
        callable: -> {}, seconds: 1, signal: "TERM", boolean: true, ios: [$stderr], env: {},
        logger: Logger.new(IO::NULL) }
    end

    # A value of the right type for every option of DaemonController::OPTIONS,
    # all at once.
    let(:every_option) do
      given = mandatory.merge(
        lock_file: Pathname(tmpdir).join("other.lock"), stop_command: "kill-it",
        restart_command: "restart-it", before_start: -> {}, start_timeout: 5,
        start_abort_timeout: 0.5, stop_timeout: nil, log_file_activity_timeout: 0,
        ping_interval: 0.2, stop_graceful_signal: :INT, dont_stop_if_pid_file_invalid: true,
        daemonize_for_me: true, make_pid_file: true, keep_ios: [$stderr],
        env: { "A" => "1", "B" => nil }, logger: Logger.new(IO::NULL)
      )
      DaemonController::OPTIONS.to_h { |name, row| [name, given.fetch(name) { value_of_kind.fetch(row[:kind]) }] }
    end

    it "declare exactly the options DaemonController::OPTIONS lists, the mandatory ones as required" do
      expect(sigs.declared_keywords).to match_array(DaemonController::OPTIONS.keys)
      mandatory = DaemonController::OPTIONS.select { |_, row| row[:mandatory] }.keys
      expect(sigs.keyword_initializer.required_keywords.keys).to match_array(mandatory)
    end

    it "declare only options the constructor accepts without a warning" do
      expect(every_option.keys).to match_array(sigs.declared_keywords)
      expect { checked_call(DaemonController, :new, **every_option) }.not_to output.to_stderr
    end

    it "accept every option form the constructor accepts" do
      [
        mandatory,
        mandatory.merge(identifier: :sig_check, start_command: method(:start_command_text),
                        ping_command: [:tcp, "127.0.0.1", 80], pid_file: Pathname(pid_file)),
        mandatory.merge(start_command: -> { "true" }, ping_command: [:tcp, "localhost", "80"]),
        mandatory.merge(ping_command: [:unix, File.join(tmpdir, "daemon.sock")]),
        mandatory.merge(ping_command: [:unix, Pathname(tmpdir).join("daemon.sock")]),
        mandatory.merge(ping_command: -> { TCPSocket.new("127.0.0.1", port) }),
        mandatory.merge(ping_command: method(:ping)),
        mandatory.merge(ping_command: [:http, "http://127.0.0.1:8080/health?deep=1"]),
        mandatory.merge(ping_command: [:notify]),
        every_option,
        every_option.merge(daemonize_for_me: false, make_pid_file: false),
        mandatory.merge(stop_graceful_signal: "SIGQUIT", keep_ios: nil, env: nil, logger: nil,
                        lock_file: nil, before_start: nil, ping_interval: nil)
      ].each do |options|
        expect(checked_call(DaemonController, :new, **options)).to be_a(DaemonController)
      end
    end

    it "accept the 1.x options Hash, unknown options included" do
      expect(checked_call(DaemonController, :new, mandatory)).to be_a(DaemonController)
      expect do
        expect(checked_call(DaemonController, :new, mandatory.merge(timeout: 25))).to be_a(DaemonController)
      end.to output(/timeout/).to_stderr
    end

    {
      identifier: 42,
      start_command: 42,
      ping_command: [:udp, "127.0.0.1", 80],
      ping_interval: "0.1",
      pid_file: 42,
      log_file: nil,
      lock_file: 42,
      stop_command: :stop,
      restart_command: ["restart"],
      before_start: "echo",
      start_timeout: "30",
      start_abort_timeout: "10",
      stop_timeout: :long,
      log_file_activity_timeout: "10",
      stop_graceful_signal: 15,
      keep_ios: [42],
      env: { "A" => 1 },
      logger: Object.new
    }.each do |option, bad|
      it "reject #{option}: #{bad.inspect}, as the constructor does" do
        options = mandatory.merge(option => bad)
        errors = sigs.call_errors(DaemonController, :new, [options], nil, singleton: true)
        expect(errors).not_to be_empty, "the signature accepts #{option}: #{bad.inspect}"
        expect { DaemonController.new(**options) }
          .to(raise_error { |e| expect(e).to be_a(TypeError).or be_a(ArgumentError) })
      end
    end

    it "match the public methods' results through a whole start and stop" do
      expect(checked_call(DaemonController, :can_ping_unix_sockets?)).to be(true)
      controller = checked_call(DaemonController, :new, **controller_options)
      expect(checked_call(controller, :running?)).to be_nil
      expect(checked_call(controller, :pid)).to be_nil
      expect(checked_call(controller, :start)).to be(true)
      expect(checked_call(controller, :running?)).to be(true)
      expect(checked_call(controller, :pid)).to be_a(Integer)
      socket = checked_call(controller, :connect) { TCPSocket.new("127.0.0.1", port) }
      expect(socket).to be_a(TCPSocket)
      socket.close
      expect(checked_call(controller, :restart)).to be(true)
      expect(checked_call(controller, :stop)).to be_nil
      expect(checked_call(controller, :running?)).to be_nil
    end

    it "match restart's result when a restart command runs" do
      controller = DaemonController.new(**mandatory, restart_command: "true")
      expect(checked_call(controller, :restart)).to be_a(DaemonController::InternalCommandOkResult)
    end

    it "match the seams' results" do
      controller = DaemonController.new(**controller_options)
      expect(checked_call(controller, :daemon_is_running?)).to be_nil
      expect(checked_call(controller, :pid_file_available?)).to be(false)
      expect(checked_call(controller, :run_ping_command)).to be(false)
      address = Socket.sockaddr_in(port, "127.0.0.1")
      expect(checked_call(controller, :ping_socket, Socket::AF_INET, address)).to be(false)
      expect(checked_call(controller, :run_command, "true")).to be_a(DaemonController::InternalCommandOkResult)
      failed = checked_call(controller, :run_command, "false")
      expect(failed).to be_a(DaemonController::InternalCommandErrorResult)
      expect(failed.exit_status).to be_a(Process::Status)
      expect(checked_call(controller, :before_start)).to be_nil
      checked_call(controller, :daemon_spawned)
      checked_call(controller, :start_timed_out, nil)
      checked_call(controller, :daemonization_timed_out, 12_345)
      quick = DaemonController.new(**mandatory)
      expect(checked_call(quick, :spawn_daemon)).to be_a(DaemonController::InternalCommandOkResult)
    end

    it "match the attributes of the exceptions a failed start raises" do
      exit_error = DaemonController::StartError
      controller = DaemonController.new(**mandatory, start_command: "echo failing; exit 3")
      error = begin
        controller.start
      rescue exit_error => e
        e
      end
      expect(error).to be_a(exit_error)
      expect(checked_call(error, :output)).to eq("failing")
      expect(checked_call(error, :exit_status)).to eq(3)
      expect(checked_call(error, :pid)).to be_a(Integer)
      checked_call(error, :logs)
      killed = DaemonController.new(**mandatory, start_command: "kill -KILL $$")
      error = begin
        killed.start
      rescue exit_error => e
        e
      end
      expect(checked_call(error, :signal)).to eq("SIGKILL")
      expect(checked_call(error, :exit_status)).to be_nil
    end

    it "match the result structs" do
      ok = checked_call(DaemonController::InternalCommandOkResult, :new, 12, "output")
      expect([checked_call(ok, :pid), checked_call(ok, :output)]).to eq([12, "output"])
      checked_call(ok, :output=, nil)
      timeout = checked_call(DaemonController::InternalCommandTimeoutResult, :new, 13, nil)
      expect(checked_call(timeout, :pid)).to eq(13)
      status = DaemonController.new(**mandatory).__send__(:run_command, "false").exit_status
      error = checked_call(DaemonController::InternalCommandErrorResult, :new, 14, "oops", status)
      expect(checked_call(error, :exit_status)).to equal(status)
      expect(sigs.value_matches?(ok, "command_result")).to be(true)
      expect(sigs.value_matches?(status, "_ExitStatus")).to be(true)
    end

    it "match LockFile's results, each lock returning its block's value" do
      path = File.join(tmpdir, "sig.lock")
      lock = checked_call(DaemonController::LockFile, :new, path)
      expect(checked_call(lock, :filename)).to eq(path)
      expect(checked_call(DaemonController::LockFile, :new, Pathname(path))).to be_a(DaemonController::LockFile)
      expect(checked_call(lock, :exclusive_lock, block_arguments: false) { :exclusive }).to eq(:exclusive)
      expect(checked_call(lock, :shared_lock, block_arguments: false) { [1, 2] }).to eq([1, 2])
      expect(checked_call(lock, :try_exclusive_lock, block_arguments: false) { nil }).to be_nil
      expect(checked_call(lock, :try_shared_lock, block_arguments: false) { "shared" }).to eq("shared")
    end

    it "match what LockFile's locks give their blocks: nothing, as `{ () -> T }` says" do
      lock = DaemonController::LockFile.new(File.join(tmpdir, "sig.lock"))
      %i[exclusive_lock shared_lock try_exclusive_lock try_shared_lock].each do |kind|
        expect(checked_call(lock, kind) { kind }).to eq(kind)
      end
    end
  end
end
