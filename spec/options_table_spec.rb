# frozen_string_literal: true

require_relative "spec_helper"

# doc/OPTIONS.md against DaemonController::OPTIONS, both ways: a row of one
# without its match in the other fails.
RSpec.describe "DaemonController::OPTIONS and doc/OPTIONS.md" do
  # The rows of the document's summary table, by option name: the cells
  # after the name (type, default, CLI flag, YAML key).
  def documented_rows
    text = File.read(File.expand_path("../doc/OPTIONS.md", __dir__))
    summary = text[/^## Summary\n(.*?)^## /m, 1] or raise "doc/OPTIONS.md has no Summary section"
    summary.lines.grep(/^\| \[/).to_h do |line|
      name, *cells = line.split("|").map(&:strip).reject(&:empty?)
      [name[/\A\[(\w+)\]/, 1].to_sym, cells]
    end
  end

  def sections
    File.read(File.expand_path("../doc/OPTIONS.md", __dir__)).scan(/^## (\w+)$/).flatten.map(&:to_sym)
  end

  let(:table) { DaemonController::OPTIONS }
  # The kinds that only Ruby can give: no flag, no config-file key.
  let(:ruby_only) { %i[callable ios logger] }

  it "documents every option of the table, in the summary and in a section of its own" do
    expect(table.keys - documented_rows.keys).to be_empty, "not in the summary"
    expect(table.keys - sections).to be_empty, "without a section"
  end

  it "documents no option that the table lacks" do
    expect(documented_rows.keys - table.keys).to be_empty
  end

  it "gives each option the table's default" do
    documented_rows.each do |name, (_type, default, _flag, _key)|
      row = table.fetch(name)
      expected = row[:mandatory] ? "mandatory" : "`#{row[:default].inspect}`"
      expect(default).to start_with(expected), "#{name}: documented default #{default}, table #{expected}"
    end
  end

  it "gives each option the table's flag and config-file key" do
    documented_rows.each do |name, (_type, _default, flag, key)|
      row = table.fetch(name)
      if row[:flag]
        expect(flag).to start_with("`#{row[:flag]}`"), "#{name}: documented flag #{flag}"
      else
        expect(flag).not_to include("`--#{name.to_s.tr("_", "-")}"), "#{name}: documented flag #{flag}"
      end
      expected_key = ruby_only.include?(row[:kind]) ? "none" : "`#{name}`"
      expect(key).to start_with(expected_key), "#{name}: documented config key #{key}"
    end
  end

  it "has one frozen row per option, each with every field" do
    expect(table).to be_frozen
    table.each do |name, row|
      expect(row.keys).to eq(%i[kind mandatory default flag help]), name.to_s
      expect(row).to be_frozen
      expect(row[:help]).to match(/\A[^\n]+\z/)
    end
  end
end
